//! The common shape of IPv6 text, colon-separated hex groups with at most one `::` and no
//! dotted-quad tail, parsed with bit masks instead of a byte-by-byte state machine.
//!
//! Where a group ends is different in every address, so the byte loop of `inet_pton(3)`
//! mispredicts at the colons of addresses it has not seen before: over 100,000 distinct
//! addresses it took 55 ns each, over 1,000 repeated ones 27 ns. Here the text is
//! classified into two masks (colons, hex digits) with SIMD compares, the grammar is
//! checked on the masks, and each group's value is computed from the four bytes that end
//! it; the branches left are the rejections, the text's length class and the loop over
//! groups (39 ns over the same 100,000).
//!
//! [`parse`] answers `Some` only for text glibc's `inet_pton(AF_INET6)` accepts, with the
//! same address; everything else (invalid text, and the valid `::ffff:1.2.3.4` forms) gets
//! `None`, and the caller runs the full parser, which has the last word.

/// `"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".len()`: the longest text without a dot.
const MAX_LEN: usize = 39;

/// The address glibc's `inet_pton(AF_INET6)` makes of `s`, as a big-endian integer, if
/// `s` is colon-hex text without a dotted quad; `None` otherwise (see the module docs).
pub fn parse(s: &[u8]) -> Option<u128> {
    let len = s.len();
    // Below four bytes only `::`, `::x` and `x::` are valid: the byte loop takes them, so
    // every group's 4-byte window below is inside `s`.
    if !(4..=MAX_LEN).contains(&len) {
        return None;
    }
    // NOTE: the masks come from loads of `s` itself. Copying the text into a padded
    // scratch buffer first measured slower than the byte loop: loads that span several
    // of the copy's stores cannot be forwarded from the store buffer and stall.
    let (colon, hex) = classify(s);

    // Bit i of each mask is text byte i.
    let span = (1u64 << len) - 1;
    if colon | hex != span {
        return None;
    }
    // Bit i of `double` is set when bytes i and i+1 are both colons.
    let double = colon & (colon >> 1);
    if double & double.wrapping_sub(1) != 0 {
        return None;
    }
    let last = 1u64 << (len - 1);
    // A colon at either end must be half of the `::` ("1:" and ":1" are refused).
    if (colon & 1 != 0 && double & 1 == 0) || (colon & last != 0 && double & (last >> 1) == 0) {
        return None;
    }
    // At most four digits a group.
    if hex & (hex >> 1) & (hex >> 2) & (hex >> 3) & (hex >> 4) != 0 {
        return None;
    }
    let ends = hex & !(hex >> 1);
    let groups = ends.count_ones();
    // Without `::` there are exactly eight groups; with it, it must stand for at least one.
    if (double == 0 && groups != 8) || (double != 0 && groups > 7) {
        return None;
    }

    // Groups ending after the `::` move right by the number of zero groups it stands for.
    let gap = if double == 0 {
        u32::MAX
    } else {
        double.trailing_zeros()
    };
    let zero_groups = 8 - groups;
    let mut value = 0u128;
    let mut rest = ends;
    let mut j = 0u32;
    while rest != 0 {
        let end = rest.trailing_zeros();
        rest &= rest - 1;
        let word = group_value(s, colon, end as usize);
        let index = j + u32::from(end > gap) * zero_groups;
        value |= u128::from(word) << (16 * (7 - (index & 7)));
        j += 1;
    }
    Some(value)
}

/// Which bytes of a 4-byte window belong to the group ending at its top byte, by where
/// the window's colons are (bit k: byte k is a colon): the bytes above the highest colon.
static KEEP_ABOVE_COLON: [u32; 16] = {
    let mut t = [u32::MAX; 16];
    let mut c = 1;
    while c < 16 {
        let highest = 31 - (c as u32).leading_zeros();
        t[c] = if highest >= 3 {
            0
        } else {
            u32::MAX << (8 * (highest + 1))
        };
        c += 1;
    }
    t
};

/// The value of the hex group whose last digit is `s[end]`; `s` is at least four bytes
/// long and the group at most four digits (both checked by the caller).
fn group_value(s: &[u8], colon: u64, end: usize) -> u16 {
    // The four bytes ending at `end`, or for a group at the very start the first four,
    // shifted so that `end` is the top byte.
    let start = end.saturating_sub(3).min(s.len() - 4);
    let window = match s.get(start..start + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) << (8 * (3 - (end - start))),
        _ => 0,
    };
    let bytes = window & KEEP_ABOVE_COLON[(((colon << 3) >> end) & 0xf) as usize];
    // ASCII hex to nibbles, four at once: '0'-'9' have bit 6 clear, letters of either
    // case have it set and need 9 added to their low nibble.
    let nibbles = (bytes & 0x0f0f_0f0f) + 9 * ((bytes >> 6) & 0x0101_0101);
    // Byte 3 (`end`) is the lowest nibble of the group, byte 0 the highest.
    let m = nibbles.swap_bytes();
    let pairs = (m | (m >> 4)) & 0x00ff_00ff;
    ((pairs & 0xff) | ((pairs >> 8) & 0xff00)) as u16
}

/// Masks of the colons and of the hex digits in `s` (at most 64 bytes), bit i for byte i.
/// Longer texts are covered by overlapping 16- or 8-byte loads, all inside `s`.
#[cfg(target_arch = "x86_64")]
pub fn classify(s: &[u8]) -> (u64, u64) {
    use std::arch::x86_64::{__m128i, _mm_loadl_epi64, _mm_loadu_si128};
    let len = s.len();
    let mut colon = 0u64;
    let mut hex = 0u64;
    let mut add = |v: __m128i, at: usize| {
        let (c, h) = classify_sse2(v);
        colon |= c << at;
        hex |= h << at;
    };
    if len >= 16 {
        // Three loads whatever the length (up to 48 bytes), so the only branch is on
        // whether the text reaches 16 bytes; a load that repeats another adds nothing.
        for at in [0, (len - 16).min(16), len - 16] {
            let chunk = &s[at..at + 16];
            // SAFETY: SSE2 is part of the x86_64 baseline; the load reads the 16 bytes of
            // `chunk`.
            add(unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) }, at);
        }
    } else if len >= 8 {
        for at in [0, len - 8] {
            let chunk = &s[at..at + 8];
            // SAFETY: SSE2 is part of the x86_64 baseline; `_mm_loadl_epi64` reads the
            // 8 bytes of `chunk` and zeroes the upper half (zero is in neither class).
            add(unsafe { _mm_loadl_epi64(chunk.as_ptr().cast()) }, at);
        }
    } else {
        return classify_scalar(s);
    }
    (colon, hex)
}

/// Colon and hex-digit masks of 16 bytes.
#[cfg(target_arch = "x86_64")]
fn classify_sse2(v: std::arch::x86_64::__m128i) -> (u64, u64) {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline; these are register-only operations.
    let (c, h) = unsafe {
        // Signed byte compares: bytes >= 0x80 are negative and fall outside every range.
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(v, _mm_set1_epi8((b'0' - 1) as i8)),
            _mm_cmplt_epi8(v, _mm_set1_epi8((b'9' + 1) as i8)),
        );
        let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(lower, _mm_set1_epi8((b'a' - 1) as i8)),
            _mm_cmplt_epi8(lower, _mm_set1_epi8((b'f' + 1) as i8)),
        );
        (
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8))),
            _mm_movemask_epi8(_mm_or_si128(digit, letter)),
        )
    };
    (u64::from(c as u16), u64::from(h as u16))
}

#[cfg(not(target_arch = "x86_64"))]
pub fn classify(s: &[u8]) -> (u64, u64) {
    classify_scalar(s)
}

/// The portable form of [`classify`].
pub fn classify_scalar(s: &[u8]) -> (u64, u64) {
    let mut colon = 0u64;
    let mut hex = 0u64;
    for (i, &c) in s.iter().enumerate() {
        colon |= u64::from(c == b':') << i;
        hex |= u64::from(c.is_ascii_hexdigit()) << i;
    }
    (colon, hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::parse_inet_pton6_bytewise;

    fn check(s: &str) {
        let fast = parse(s.as_bytes()).map(u128::to_be_bytes);
        let full = parse_inet_pton6_bytewise(s.as_bytes());
        if let Some(a) = fast {
            assert_eq!(Some(a), full, "{s:?}");
        } else {
            // Only dotted quads and texts under four bytes may be left to the full parser
            // among valid texts.
            assert!(
                full.is_none() || s.contains('.') || s.len() < 4,
                "{s:?} refused by the fast path"
            );
        }
    }

    #[test]
    fn agrees_with_the_bytewise_parser() {
        for s in [
            "::",
            "::1",
            "1::",
            "1::2",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "ffff:FFFF:aBcD:0:0:0:0:1",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "12345::",
            ":::",
            "1:",
            ":1",
            "1::2::3",
            "1:::2",
            ":1::",
            "::1:",
            "1:2:3:4:5:6:7",
            "g::",
            "1:2:3:4:5:6:7:8:9",
            "::0:0",
            "fe80::1%eth0",
            "1::2 ",
            " ::1",
            "1:2\u{0}3::",
            "::é",
            "0:0:0:0:0:0:0:0",
            "a:b:c:d:e:f:0:1",
            "abcd::ef01",
            "f::",
            "::f",
            "ffff::ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            check(s);
        }
    }

    #[test]
    fn agrees_on_every_short_text_over_a_small_alphabet() {
        // Every text of up to six bytes over ":0fF.x": all the grammar's corner cases.
        let alphabet = b":0fF.x";
        let mut texts = vec![Vec::new()];
        for _ in 0..6 {
            let next: Vec<Vec<u8>> = texts
                .iter()
                .flat_map(|t| {
                    alphabet.iter().map(move |&c| {
                        let mut t = t.clone();
                        t.push(c);
                        t
                    })
                })
                .collect();
            for t in &next {
                check(std::str::from_utf8(t).expect("ascii"));
            }
            texts = next;
        }
    }

    #[test]
    fn agrees_on_generated_addresses() {
        // Random addresses in every zero-run shape, printed in several spellings.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let r = next();
            let words: Vec<u16> = (0..8)
                .map(|i| match (r >> (i * 3)) & 7 {
                    0..=3 => 0,
                    4 => (next() & 0xf) as u16,
                    _ => next() as u16,
                })
                .collect();
            let full: Vec<String> = words.iter().map(|w| format!("{w:x}")).collect();
            check(&full.join(":"));
            check(
                &words
                    .iter()
                    .map(|w| format!("{w:04X}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            );
            let mut bytes = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                bytes[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
            }
            let mut text = String::new();
            crate::addr::format_ipv6(&bytes, &mut text);
            check(&text);
            assert_eq!(
                parse(text.as_bytes())
                    .map(u128::to_be_bytes)
                    .or_else(|| (text.contains('.') || text.len() < 4).then_some(bytes)),
                Some(bytes),
                "{text}"
            );
        }
    }

    #[test]
    fn scalar_and_simd_classifiers_agree() {
        let bytes: Vec<u8> = (0..=255u8)
            .chain(b"0123456789abcdefABCDEF:::g/@`G".iter().copied())
            .collect();
        for len in 0..=MAX_LEN {
            for start in 0..bytes.len() - len {
                let s = &bytes[start..start + len];
                assert_eq!(classify(s), classify_scalar(s), "{s:?}");
            }
        }
    }
}
