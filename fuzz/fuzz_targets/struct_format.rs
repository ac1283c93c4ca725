//! The `struct` format compiler (`Struct(format)`, `calcsize`), without Python.
//!
//! - a format that compiles describes a record that holds every code: codes in offset
//!   order, none overlapping the next, all inside `size`; native codes aligned;
//! - `len` counts one value per repeat (one per `s`/`p` field) and the expanded steps, when
//!   present, are the codes value by value;
//! - compiling is insensitive to whitespace between items, and a failing format fails with
//!   the same error whatever follows the point where it went wrong is not needed to see it.
#![no_main]

use _native::fuzzing::structfmt::{compile, Op, Program, MAX_STEPS};
use libfuzzer_sys::fuzz_target;

fn check(fmt: &[u8], prog: &Program) {
    assert_eq!(prog.format.as_bytes(), fmt);
    let native = !matches!(fmt.first(), Some(b'<' | b'>' | b'!' | b'='));
    let mut end = 0usize;
    let mut len = 0usize;
    for code in &prog.codes {
        assert!(code.offset >= end, "codes overlap in {fmt:?}");
        let width = code.size.checked_mul(code.repeat).unwrap();
        end = code.offset.checked_add(width).unwrap();
        assert!(end <= prog.size, "code past the record in {fmt:?}");
        if native && !matches!(code.op, Op::Str | Op::Pascal | Op::Char) && code.size > 0 {
            assert_eq!(
                code.offset % code.size.min(8),
                0,
                "unaligned code in {fmt:?}"
            );
        }
        len += if matches!(code.op, Op::Str | Op::Pascal) {
            1
        } else {
            code.repeat
        };
    }
    assert_eq!(len, prog.len);
    match &prog.steps {
        None => assert!(prog.len > MAX_STEPS),
        Some(steps) => {
            assert_eq!(steps.len(), prog.len);
            let mut i = 0;
            for code in &prog.codes {
                for k in 0..code.repeat {
                    let s = steps[i];
                    assert_eq!((s.offset, s.len), (code.offset + k * code.size, code.size));
                    assert_eq!(s.read, code.read());
                    i += 1;
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let res = compile(data);
    if let Ok(prog) = &res {
        check(data, prog);
    }
    // A space between items changes nothing: insert one after each format character.
    let mut spaced = Vec::with_capacity(data.len() * 2);
    for (i, &c) in data.iter().enumerate() {
        spaced.push(c);
        if c.is_ascii_alphabetic() || c == b'?' || (i == 0 && b"<>!=@".contains(&c)) {
            spaced.push(b' ');
        }
    }
    let again = compile(&spaced);
    match (&res, &again) {
        (Ok(a), Ok(b)) => {
            assert_eq!((&a.codes, a.size, a.len), (&b.codes, b.size, b.len));
            check(&spaced, b);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{data:?} and {spaced:?}"),
        _ => panic!("{data:?} -> {res:?} but {spaced:?} -> {again:?}"),
    }
});
