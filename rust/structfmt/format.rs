//! The `struct` format language, compiled the way CPython 3.11's `Modules/_struct.c`
//! (`prepare_s`) compiles it: an optional byte-order prefix, then items made of an optional
//! decimal repeat count and a format character, with whitespace between items ignored.
//!
//! The result is a [`Program`]: a short list of [`Code`]s (one per item of the format, with
//! its repeat count, not one per value), the total size and the number of Python values.
//! Everything here is plain Rust; the Python-facing conversions live in `codec.rs`.

use std::ffi::{c_double, c_float, c_int, c_long, c_longlong, c_short};
use std::mem::{align_of, size_of};

/// How one format character converts Python values, named after the CPython function that
/// `_struct.c` selects for it. The choice matters beyond the bytes written: each function has
/// its own range checks and error wording (`'<h'` uses `np_short` on a little-endian host
/// and says "short format requires ...", `'>h'` uses `bp_int` and says "'h' format requires
/// ..."), so the compiler picks exactly the function CPython would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `c`: a bytes object of length 1.
    Char,
    /// `s`: bytes, truncated or NUL-padded to the field width.
    Str,
    /// `p`: Pascal string, a length byte (capped at 255) then the bytes.
    Pascal,
    /// `?`: truthiness on pack, any non-zero byte is `True` on unpack.
    Bool,
    /// `b` (`np_byte`).
    Byte,
    /// `B` (`np_ubyte`).
    UByte,
    /// native `h`, and `h` in the host's standard order (`np_short`).
    Short,
    /// native `H`, and `H` in the host's standard order (`np_ushort`).
    UShort,
    /// native `i`, and `i` in the host's standard order (`np_int`).
    Int,
    /// native `I`, and `I` in the host's standard order (`np_uint`).
    UInt,
    /// native `l` (`np_long`).
    Long,
    /// native `L` (`np_ulong`).
    ULong,
    /// native `n` (`np_ssize_t`).
    SSize,
    /// native `N` (`np_size_t`).
    Size,
    /// native `q`, and `q` in the host's standard order (`np_longlong`).
    LongLong,
    /// native `Q`, and `Q` in the host's standard order (`np_ulonglong`).
    ULongLong,
    /// native `P` (`np_void_p`).
    VoidP,
    /// standard-size `h`, `i`, `l` not handled by a native function (`lp_int`/`bp_int`).
    StdInt,
    /// standard-size `H`, `I`, `L` not handled by a native function (`lp_uint`/`bp_uint`).
    StdUInt,
    /// standard-size `q` in the non-host order (`lp_longlong`/`bp_longlong`).
    StdLongLong,
    /// standard-size `Q` in the non-host order (`lp_ulonglong`/`bp_ulonglong`).
    StdULongLong,
    /// `e`: IEEE 754 binary16, round-half-even, `OverflowError` past 65504.
    Half,
    /// native `f` (`np_float`): a plain C cast, so out-of-range values become infinities.
    NativeFloat,
    /// standard-size `f` (`lp_float`/`bp_float`): `OverflowError` when the cast overflows.
    StdFloat,
    /// `d`.
    Double,
}

impl Op {
    /// Whether an integer op reads back as a signed number.
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Op::Byte
                | Op::Short
                | Op::Int
                | Op::Long
                | Op::SSize
                | Op::LongLong
                | Op::StdInt
                | Op::StdLongLong
        )
    }
}

/// One item of a compiled format: `repeat` values of `size` bytes each from `offset`, or for
/// `s`/`p` one value filling a field of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub op: Op,
    /// The format character, for error messages (`'i' format requires ...`).
    pub ch: u8,
    /// Byte order of each encoded value (meaningless for one-byte and string items).
    pub big_endian: bool,
    pub offset: usize,
    pub size: usize,
    pub repeat: usize,
}

/// A compiled format: what `Struct(format)` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The format as given (ASCII, checked by the compiler).
    pub format: String,
    pub codes: Vec<Code>,
    /// `calcsize(format)`.
    pub size: usize,
    /// How many Python values `pack` takes and `unpack` returns.
    pub len: usize,
    /// The codes expanded to one step per value, for unpacking short formats without a
    /// per-code loop (`None` past [`MAX_STEPS`] values: `'1000000i'` stays compact).
    pub steps: Option<Vec<Step>>,
}

/// Formats with more values than this unpack code by code.
pub const MAX_STEPS: usize = 256;

/// How one value is read back, with its width folded into the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// `c` and `s`: the bytes as they are.
    Bytes,
    /// `p`: a length byte, then at most `len - 1` bytes.
    Pascal,
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F16,
    F32,
    F64,
}

/// One value of an unpacked record: `len` bytes at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub read: Read,
    pub big_endian: bool,
    pub offset: usize,
    pub len: usize,
}

impl Code {
    /// How this code's values are read back.
    pub fn read(&self) -> Read {
        match (self.op, self.size) {
            (Op::Char | Op::Str, _) => Read::Bytes,
            (Op::Pascal, _) => Read::Pascal,
            (Op::Bool, _) => Read::Bool,
            (Op::Half, _) => Read::F16,
            (Op::NativeFloat | Op::StdFloat, _) => Read::F32,
            (Op::Double, _) => Read::F64,
            (op, 1) if op.is_signed() => Read::I8,
            (op, 2) if op.is_signed() => Read::I16,
            (op, 4) if op.is_signed() => Read::I32,
            (op, _) if op.is_signed() => Read::I64,
            (_, 1) => Read::U8,
            (_, 2) => Read::U16,
            (_, 4) => Read::U32,
            (_, _) => Read::U64,
        }
    }
}

/// One step per value of `codes`, or `None` for more than [`MAX_STEPS`] values.
fn expand(codes: &[Code], len: usize) -> Option<Vec<Step>> {
    if len > MAX_STEPS {
        return None;
    }
    let mut steps = Vec::with_capacity(len);
    for code in codes {
        let read = code.read();
        for k in 0..code.repeat {
            steps.push(Step {
                read,
                big_endian: code.big_endian,
                offset: code.offset + k * code.size,
                len: code.size,
            });
        }
    }
    Some(steps)
}

/// Why a format does not compile. The messages are CPython's (the same in 3.11 to 3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    EmbeddedNull,
    BadChar,
    RepeatWithoutSpecifier,
    TooLong,
}

impl FormatError {
    pub fn message(self) -> &'static str {
        match self {
            FormatError::EmbeddedNull => "embedded null character",
            FormatError::BadChar => "bad char in struct format",
            FormatError::RepeatWithoutSpecifier => "repeat count given without format specifier",
            FormatError::TooLong => "total struct size too long",
        }
    }
}

/// The byte-order prefix in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    /// `@` or no prefix: native order, sizes and alignment.
    Native,
    /// `<`, `>`, `!`, `=`: standard sizes, no alignment, the given order.
    Standard { big_endian: bool },
}

const HOST_BIG_ENDIAN: bool = cfg!(target_endian = "big");

/// Size, alignment and op of one format character in one table, or None for a bad char.
fn entry(table: Table, c: u8) -> Option<(usize, usize, Op)> {
    let std = |size: usize, native_size: usize, native: Op, std_op: Op, big_endian: bool| {
        // _struct.c swaps the native functions into the host-order standard table where the
        // sizes agree (except for f, d and ?), which changes the error messages.
        let op = if big_endian == HOST_BIG_ENDIAN && size == native_size {
            native
        } else {
            std_op
        };
        Some((size, 0, op))
    };
    match table {
        Table::Native => Some(match c {
            b'x' => (1, 0, Op::Byte), // never emitted as a code
            b'b' => (1, 0, Op::Byte),
            b'B' => (1, 0, Op::UByte),
            b'c' => (1, 0, Op::Char),
            b's' => (1, 0, Op::Str),
            b'p' => (1, 0, Op::Pascal),
            b'h' => (size_of::<c_short>(), align_of::<c_short>(), Op::Short),
            b'H' => (size_of::<c_short>(), align_of::<c_short>(), Op::UShort),
            b'i' => (size_of::<c_int>(), align_of::<c_int>(), Op::Int),
            b'I' => (size_of::<c_int>(), align_of::<c_int>(), Op::UInt),
            b'l' => (size_of::<c_long>(), align_of::<c_long>(), Op::Long),
            b'L' => (size_of::<c_long>(), align_of::<c_long>(), Op::ULong),
            b'n' => (size_of::<isize>(), align_of::<isize>(), Op::SSize),
            b'N' => (size_of::<usize>(), align_of::<usize>(), Op::Size),
            b'q' => (
                size_of::<c_longlong>(),
                align_of::<c_longlong>(),
                Op::LongLong,
            ),
            b'Q' => (
                size_of::<c_longlong>(),
                align_of::<c_longlong>(),
                Op::ULongLong,
            ),
            b'?' => (size_of::<bool>(), align_of::<bool>(), Op::Bool),
            b'e' => (2, align_of::<c_short>(), Op::Half),
            b'f' => (size_of::<c_float>(), align_of::<c_float>(), Op::NativeFloat),
            b'd' => (size_of::<c_double>(), align_of::<c_double>(), Op::Double),
            b'P' => (size_of::<*const u8>(), align_of::<*const u8>(), Op::VoidP),
            _ => return None,
        }),
        Table::Standard { big_endian } => match c {
            b'x' | b'b' => Some((1, 0, Op::Byte)),
            b'B' => Some((1, 0, Op::UByte)),
            b'c' => Some((1, 0, Op::Char)),
            b's' => Some((1, 0, Op::Str)),
            b'p' => Some((1, 0, Op::Pascal)),
            b'h' => std(2, size_of::<c_short>(), Op::Short, Op::StdInt, big_endian),
            b'H' => std(2, size_of::<c_short>(), Op::UShort, Op::StdUInt, big_endian),
            b'i' => std(4, size_of::<c_int>(), Op::Int, Op::StdInt, big_endian),
            b'I' => std(4, size_of::<c_int>(), Op::UInt, Op::StdUInt, big_endian),
            b'l' => std(4, size_of::<c_long>(), Op::Long, Op::StdInt, big_endian),
            b'L' => std(4, size_of::<c_long>(), Op::ULong, Op::StdUInt, big_endian),
            b'q' => std(
                8,
                size_of::<c_longlong>(),
                Op::LongLong,
                Op::StdLongLong,
                big_endian,
            ),
            b'Q' => std(
                8,
                size_of::<c_longlong>(),
                Op::ULongLong,
                Op::StdULongLong,
                big_endian,
            ),
            b'?' => Some((1, 0, Op::Bool)),
            b'e' => Some((2, 0, Op::Half)),
            b'f' => Some((4, 0, Op::StdFloat)),
            b'd' => Some((8, 0, Op::Double)),
            _ => None,
        },
    }
}

/// `Py_ISSPACE`: the C locale's whitespace.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Compiles `fmt` (the bytes of a `str` format encoded as ASCII, or a `bytes` format).
///
/// Mirrors `prepare_s`: the first error met while scanning left to right wins, sizes are
/// checked against `PY_SSIZE_T_MAX`, native alignment pads before an item (also for a repeat
/// count of 0, the documented way to pad the end) and nothing pads after the last item.
pub fn compile(fmt: &[u8]) -> Result<Program, FormatError> {
    if fmt.contains(&0) {
        return Err(FormatError::EmbeddedNull);
    }
    let max = isize::MAX as usize;
    let (table, start) = match fmt.first() {
        Some(b'<') => (Table::Standard { big_endian: false }, 1),
        Some(b'>') | Some(b'!') => (Table::Standard { big_endian: true }, 1),
        Some(b'=') => (
            Table::Standard {
                big_endian: HOST_BIG_ENDIAN,
            },
            1,
        ),
        Some(b'@') => (Table::Native, 1),
        _ => (Table::Native, 0),
    };
    let big_endian = match table {
        Table::Native => HOST_BIG_ENDIAN,
        Table::Standard { big_endian } => big_endian,
    };
    let mut codes = Vec::new();
    let mut size: usize = 0;
    let mut len: usize = 0;
    let mut i = start;
    while i < fmt.len() {
        let mut c = fmt[i];
        i += 1;
        if is_space(c) {
            continue;
        }
        let num = if c.is_ascii_digit() {
            let mut num = usize::from(c - b'0');
            loop {
                let Some(&d) = fmt.get(i) else {
                    return Err(FormatError::RepeatWithoutSpecifier);
                };
                i += 1;
                if !d.is_ascii_digit() {
                    c = d;
                    break;
                }
                num = num
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(usize::from(d - b'0')))
                    .filter(|n| *n <= max)
                    .ok_or(FormatError::TooLong)?;
            }
            num
        } else {
            1
        };
        let (itemsize, align, op) = entry(table, c).ok_or(FormatError::BadChar)?;
        if align > 0 && size > 0 {
            let extra = (align - 1) - (size - 1) % align;
            size = size
                .checked_add(extra)
                .filter(|s| *s <= max)
                .ok_or(FormatError::TooLong)?;
        }
        if num > (max - size) / itemsize {
            return Err(FormatError::TooLong);
        }
        match c {
            b's' | b'p' => {
                codes.push(Code {
                    op,
                    ch: c,
                    big_endian,
                    offset: size,
                    size: num,
                    repeat: 1,
                });
                len += 1;
            }
            b'x' => {}
            _ if num > 0 => {
                codes.push(Code {
                    op,
                    ch: c,
                    big_endian,
                    offset: size,
                    size: itemsize,
                    repeat: num,
                });
                len += num;
            }
            _ => {}
        }
        size += num * itemsize;
    }
    Ok(Program {
        // The scan above accepted only ASCII characters.
        format: fmt.iter().map(|&b| char::from(b)).collect(),
        steps: expand(&codes, len),
        codes,
        size,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(f: &str) -> usize {
        compile(f.as_bytes()).unwrap().size
    }

    fn err(f: &[u8]) -> FormatError {
        compile(f).unwrap_err()
    }

    #[test]
    fn native_sizes_and_alignment() {
        assert_eq!(size(""), 0);
        assert_eq!(size("c"), 1);
        assert_eq!(size("bi"), 8);
        assert_eq!(size("ib"), 5); // no trailing padding
        assert_eq!(size("bi0q"), 8);
        assert_eq!(size("b0q"), 8);
        assert_eq!(size("b0x"), 1);
        assert_eq!(size("bx0q"), 8);
        assert_eq!(size("b?ed"), 16);
        assert_eq!(size("@bP"), 16);
        assert_eq!(size("I 2s f"), 12);
        assert_eq!(size("3x3s"), 6);
        assert_eq!(size("hbi"), 8);
        assert_eq!(size("0ph"), 2);
        assert_eq!(size("x0h"), 2);
        assert_eq!(size("b0h0i"), 4);
    }

    #[test]
    fn standard_sizes_have_no_alignment() {
        assert_eq!(size("<bi"), 5);
        assert_eq!(size("!HHI"), 8);
        assert_eq!(size("<qd16s"), 32);
        assert_eq!(size("=IB3x8s"), 16);
        assert_eq!(size(">lLqQ?efd"), 39);
    }

    #[test]
    fn whitespace_is_skipped_between_items_only() {
        assert_eq!(size(" \t\n\x0b\x0c\ri "), 4);
        assert_eq!(err(b"3 i"), FormatError::BadChar);
        assert_eq!(err(b" <i"), FormatError::BadChar);
        assert_eq!(err(b"i<"), FormatError::BadChar);
    }

    #[test]
    fn native_only_codes() {
        assert_eq!(size("nNP"), 24);
        for f in ["<n", ">N", "=P", "!P"] {
            assert_eq!(err(f.as_bytes()), FormatError::BadChar, "{f}");
        }
    }

    #[test]
    fn errors_in_scan_order() {
        assert_eq!(err(b"i\0"), FormatError::EmbeddedNull);
        assert_eq!(err(b"z\0"), FormatError::EmbeddedNull);
        assert_eq!(err(b"3"), FormatError::RepeatWithoutSpecifier);
        assert_eq!(err(b"3x3"), FormatError::RepeatWithoutSpecifier);
        assert_eq!(err(b"z3"), FormatError::BadChar);
        assert_eq!(err(b"3z"), FormatError::BadChar);
        assert_eq!(err(b"99999999999999999999999z"), FormatError::TooLong);
        assert_eq!(err(b"\xe9"), FormatError::BadChar);
    }

    #[test]
    fn size_limits_are_ssize_t_max() {
        assert_eq!(size("9223372036854775807s"), isize::MAX as usize);
        assert_eq!(size("9223372036854775807x"), isize::MAX as usize);
        assert_eq!(err(b"9223372036854775808s"), FormatError::TooLong);
        assert_eq!(err(b"9223372036854775807sb"), FormatError::TooLong);
        assert_eq!(err(b"4611686018427387904h"), FormatError::TooLong);
        assert_eq!(err(b"b4611686018427387903h"), FormatError::TooLong);
        assert_eq!(err(b"b9223372036854775807xh"), FormatError::TooLong);
    }

    #[test]
    fn codes_carry_offsets_counts_and_ops() {
        let p = compile(b"<h2s3xI0pq").unwrap();
        assert_eq!(p.len, 5);
        assert_eq!(p.size, 2 + 2 + 3 + 4 + 8);
        let ops: Vec<_> = p
            .codes
            .iter()
            .map(|c| (c.op, c.offset, c.size, c.repeat))
            .collect();
        assert_eq!(
            ops,
            vec![
                (Op::Short, 0, 2, 1),
                (Op::Str, 2, 2, 1),
                (Op::UInt, 7, 4, 1),
                (Op::Pascal, 11, 0, 1),
                (Op::LongLong, 11, 8, 1),
            ]
        );
        let p = compile(b">3h").unwrap();
        assert_eq!(p.codes[0].op, Op::StdInt);
        assert!(p.codes[0].big_endian);
        assert_eq!(p.codes[0].repeat, 3);
        assert_eq!(compile(b"<l").unwrap().codes[0].op, Op::StdInt);
        assert_eq!(compile(b"<L").unwrap().codes[0].op, Op::StdUInt);
        assert_eq!(compile(b">Q").unwrap().codes[0].op, Op::StdULongLong);
        assert_eq!(compile(b"=f").unwrap().codes[0].op, Op::StdFloat);
        assert_eq!(compile(b"f").unwrap().codes[0].op, Op::NativeFloat);
        assert_eq!(compile(b"0i").unwrap().codes.len(), 0);
        assert_eq!(compile(b"0s").unwrap().len, 1);
    }

    #[test]
    fn steps_expand_short_formats() {
        let p = compile(b"<2h3sp?").unwrap();
        let steps: Vec<_> = p
            .steps
            .unwrap()
            .iter()
            .map(|s| (s.read, s.offset, s.len))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Read::I16, 0, 2),
                (Read::I16, 2, 2),
                (Read::Bytes, 4, 3),
                (Read::Pascal, 7, 1),
                (Read::Bool, 8, 1),
            ]
        );
        let p = compile(b"qQnNPlLiIe").unwrap();
        let reads: Vec<_> = p.steps.unwrap().iter().map(|s| s.read).collect();
        assert_eq!(
            reads,
            [
                Read::I64,
                Read::U64,
                Read::I64,
                Read::U64,
                Read::U64,
                Read::I64,
                Read::U64,
                Read::I32,
                Read::U32,
                Read::F16
            ]
        );
        assert!(compile(b"257b").unwrap().steps.is_none());
        assert_eq!(compile(b"256b").unwrap().steps.map(|s| s.len()), Some(256));
    }

    #[test]
    fn huge_repeat_counts_stay_compact() {
        let p = compile(b"1000000000000i").unwrap();
        assert!(p.steps.is_none());
        assert_eq!(p.codes.len(), 1);
        assert_eq!(p.len, 1_000_000_000_000);
        assert_eq!(p.size, 4_000_000_000_000);
    }
}
