//! The behaviours of the stdlib `struct` module that differ between CPython releases, held in
//! one [`Rules`] value.
//!
//! The value is not chosen from a version number: `python/ferrosock/struct.py` asks the
//! running interpreter's own `_struct` each question once at import (it packs an
//! out-of-range value, unpacks a `0p` field, ...) and installs the answers with
//! `struct_set_rules`. Until then (and in `cargo test`) the rules are CPython 3.11's.
//!
//! Every rule here is read only on an error path or for the rare `0p` field, never on the
//! per-value path of `pack`/`unpack`, so switching rule sets costs nothing per call.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

use super::format::{Code, Op};

/// One answer per behaviour that changed between releases of `Modules/_struct.c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// `b`, `B`, `h` and `H` (the `np_byte`/`np_ubyte`/`np_short`/`np_ushort` functions) word
    /// their range errors "byte format requires -128 <= number <= 127" (3.11) instead of
    /// "'b' format requires -128 <= number <= 127" (3.12 on).
    pub named_small_ranges: bool,
    /// An int beyond the C type of a native or standard-size integer code is reported as
    /// struct.error("argument out of range") (3.11) instead of with the code's range (3.12 on).
    pub overflow_out_of_range: bool,
    /// Standard-size `q`/`Q` in the non-host byte order let the `OverflowError` of the
    /// conversion through (3.11; `pack` then rewords it "int too large to convert" for an
    /// `int` argument) instead of reporting the code's range (3.12 on).
    pub std_long_long_overflow_propagates: bool,
    /// The length byte `pack` writes for an empty `0p` field: 0xff up to 3.12 (a length of
    /// -1 cut to a byte), 0 from 3.13.
    pub empty_pascal_length: u8,
    /// `unpack` of an empty `0p` field gives `b''` (3.13 on) instead of raising SystemError
    /// ("Negative size passed to PyBytes_FromStringAndSize").
    pub empty_pascal_unpacks: bool,
    /// Argument Clinic's message for an unknown keyword, with `{fname}` for the function
    /// and `{name}` for the keyword: "'{name}' is an invalid keyword argument for
    /// {fname}()" up to 3.12, "{fname}() got an unexpected keyword argument '{name}'" in 3.13.
    pub unexpected_keyword: Cow<'static, str>,
    /// `repr(Struct('i'))` is `Struct('i')` (3.13 on) instead of `<... object at 0x...>`.
    pub repr_shows_format: bool,
}

impl Rules {
    /// The rules of CPython 3.11, the default until the running interpreter's are installed.
    pub const CPYTHON_3_11: Rules = Rules {
        named_small_ranges: true,
        overflow_out_of_range: true,
        std_long_long_overflow_propagates: true,
        empty_pascal_length: 0xff,
        empty_pascal_unpacks: false,
        unexpected_keyword: Cow::Borrowed("'{name}' is an invalid keyword argument for {fname}()"),
        repr_shows_format: false,
    };

    /// The rules of CPython 3.13.0 (3.12.1 has its integer rules and 3.11's others), for
    /// the tests: at run time the rules come from probing the interpreter.
    #[cfg(test)]
    pub const CPYTHON_3_13: Rules = Rules {
        named_small_ranges: false,
        overflow_out_of_range: false,
        std_long_long_overflow_propagates: false,
        empty_pascal_length: 0,
        empty_pascal_unpacks: true,
        unexpected_keyword: Cow::Borrowed("{fname}() got an unexpected keyword argument '{name}'"),
        repr_shows_format: true,
    };

    /// The message for a value of `code` that converted to the C type but lies outside the
    /// code's range (`np_byte`'s check, or `_range_error`).
    pub fn range_message(&self, code: &Code) -> String {
        if self.named_small_ranges {
            let named = match code.op {
                Op::Byte => Some("byte format requires -128 <= number <= 127"),
                Op::UByte => Some("ubyte format requires 0 <= number <= 255"),
                Op::Short => Some("short format requires -32768 <= number <= 32767"),
                Op::UShort => Some("ushort format requires 0 <= number <= 65535"),
                _ => None,
            };
            if let Some(msg) = named {
                return msg.to_owned();
            }
        }
        code_range_message(code.ch, code.size, !code.op.is_signed())
    }

    /// What to raise when an int for `code` does not fit the C type at all (the
    /// `PyLong_As*` conversion raised `OverflowError`): `Some(message)` for a struct.error,
    /// `None` to let the `OverflowError` through.
    pub fn overflow_message(&self, code: &Code) -> Option<String> {
        let std_long_long = matches!(code.op, Op::StdLongLong | Op::StdULongLong);
        if std_long_long && self.std_long_long_overflow_propagates {
            return None;
        }
        if self.overflow_out_of_range && !std_long_long {
            return Some("argument out of range".to_owned());
        }
        Some(code_range_message(code.ch, code.size, !code.op.is_signed()))
    }

    /// The `TypeError` message for keyword `name` that `fname()` does not take.
    pub fn unexpected_keyword_message(&self, fname: &str, name: &str) -> String {
        // The keyword (user text) goes in last, so that it is never itself scanned for a
        // placeholder.
        self.unexpected_keyword
            .replace("{fname}", fname)
            .replace("{name}", name)
    }
}

/// The message `_range_error` builds for an item of format character `ch`, `size` bytes.
pub fn code_range_message(ch: u8, size: usize, unsigned: bool) -> String {
    let ulargest: u64 = u64::MAX >> (64 - 8 * size.clamp(1, 8) as u32);
    let ch = char::from(ch);
    if unsigned {
        format!("'{ch}' format requires 0 <= number <= {ulargest}")
    } else {
        let largest = (ulargest >> 1) as i64;
        format!("'{ch}' format requires {} <= number <= {largest}", !largest)
    }
}

static RULES: RwLock<Rules> = RwLock::new(Rules::CPYTHON_3_11);

/// The rules in force (a copy: callers are on error paths).
pub fn current() -> Rules {
    RULES.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The length byte for an empty `0p` field under the rules in force.
pub fn empty_pascal_length() -> u8 {
    RULES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .empty_pascal_length
}

/// Whether an empty `0p` field unpacks to `b''` under the rules in force.
pub fn empty_pascal_unpacks() -> bool {
    RULES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .empty_pascal_unpacks
}

/// Installs `rules` for every later call.
pub fn install(rules: Rules) {
    *RULES.write().unwrap_or_else(PoisonError::into_inner) = rules;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(op: Op, ch: u8, size: usize) -> Code {
        Code {
            op,
            ch,
            big_endian: false,
            offset: 0,
            size,
            repeat: 1,
        }
    }

    #[test]
    fn range_messages_match_cpython() {
        assert_eq!(
            code_range_message(b'i', 4, false),
            "'i' format requires -2147483648 <= number <= 2147483647"
        );
        assert_eq!(
            code_range_message(b'H', 2, true),
            "'H' format requires 0 <= number <= 65535"
        );
        assert_eq!(
            code_range_message(b'Q', 8, true),
            "'Q' format requires 0 <= number <= 18446744073709551615"
        );
        assert_eq!(
            code_range_message(b'q', 8, false),
            "'q' format requires -9223372036854775808 <= number <= 9223372036854775807"
        );
    }

    #[test]
    fn small_codes_are_named_in_3_11_only() {
        let b = code(Op::Byte, b'b', 1);
        let big_h = code(Op::UShort, b'H', 2);
        let old = Rules::CPYTHON_3_11;
        let new = Rules::CPYTHON_3_13;
        assert_eq!(
            old.range_message(&b),
            "byte format requires -128 <= number <= 127"
        );
        assert_eq!(
            old.range_message(&big_h),
            "ushort format requires 0 <= number <= 65535"
        );
        assert_eq!(
            new.range_message(&b),
            "'b' format requires -128 <= number <= 127"
        );
        assert_eq!(
            new.range_message(&big_h),
            "'H' format requires 0 <= number <= 65535"
        );
        // `_range_error` codes read the same under both.
        let std_h = code(Op::StdInt, b'h', 2);
        assert_eq!(old.range_message(&std_h), new.range_message(&std_h));
    }

    #[test]
    fn overflow_follows_the_rules() {
        let old = Rules::CPYTHON_3_11;
        let new = Rules::CPYTHON_3_13;
        let i = code(Op::Int, b'i', 4);
        let std_q = code(Op::StdULongLong, b'Q', 8);
        assert_eq!(
            old.overflow_message(&i).as_deref(),
            Some("argument out of range")
        );
        assert_eq!(old.overflow_message(&std_q), None);
        assert_eq!(
            new.overflow_message(&i).as_deref(),
            Some("'i' format requires -2147483648 <= number <= 2147483647")
        );
        assert_eq!(
            new.overflow_message(&std_q).as_deref(),
            Some("'Q' format requires 0 <= number <= 18446744073709551615")
        );
        // A mixed set: std q/Q report their range, the others still say "out of range".
        let mixed = Rules {
            std_long_long_overflow_propagates: false,
            ..Rules::CPYTHON_3_11
        };
        assert_eq!(
            mixed.overflow_message(&std_q).as_deref(),
            Some("'Q' format requires 0 <= number <= 18446744073709551615")
        );
    }

    #[test]
    fn keyword_message_inserts_user_text_last() {
        let old = Rules::CPYTHON_3_11;
        let new = Rules::CPYTHON_3_13;
        assert_eq!(
            old.unexpected_keyword_message("unpack_from", "off"),
            "'off' is an invalid keyword argument for unpack_from()"
        );
        assert_eq!(
            new.unexpected_keyword_message("unpack_from", "off"),
            "unpack_from() got an unexpected keyword argument 'off'"
        );
        assert_eq!(
            new.unexpected_keyword_message("f", "{fname}"),
            "f() got an unexpected keyword argument '{fname}'"
        );
    }
}
