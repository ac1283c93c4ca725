//! IPv4 text: `inet_aton`, `inet_pton(AF_INET)` and `inet_ntop(AF_INET)`/`inet_ntoa`.
//!
//! - `parse_inet_aton_prefix` accepts exactly what glibc's `inet_aton` accepts, with the
//!   same address, and the length it reports ends at the end or at a whitespace byte;
//! - `parse_inet_pton4` agrees with glibc's `inet_pton(AF_INET)` and with
//!   `std::net::Ipv4Addr` (the same grammar: four decimal octets, no leading zeros);
//! - `ipv4_text` of any four bytes is glibc's `inet_ntop` text and std's `Display`, and it
//!   parses back to the same bytes with both parsers.
#![no_main]

use std::net::Ipv4Addr;

use _native::fuzzing::addr::{ipv4_text, parse_inet_aton_prefix, parse_inet_pton4};
use fuzzkit::{glibc_aton, glibc_ntop4, glibc_pton4};
use libfuzzer_sys::fuzz_target;

fn check_format(a: &[u8; 4]) {
    let (buf, len) = ipv4_text(a);
    let text = std::str::from_utf8(&buf[..len]).unwrap();
    assert_eq!(text, glibc_ntop4(a));
    assert_eq!(text, Ipv4Addr::from(*a).to_string());
    assert_eq!(parse_inet_pton4(text.as_bytes()), Some(*a));
    assert_eq!(
        parse_inet_aton_prefix(text.as_bytes()),
        Some((*a, text.len()))
    );
}

fuzz_target!(|data: &[u8]| {
    let aton = parse_inet_aton_prefix(data);
    if let Some((_, used)) = aton {
        assert!(used <= data.len());
        assert!(used == data.len() || data[used].is_ascii_whitespace() || data[used] == 0x0b);
    }
    if let Some(glibc) = glibc_aton(data) {
        assert_eq!(
            aton.map(|(a, _)| a),
            glibc,
            "inet_aton differs from glibc on {data:?}"
        );
    }
    let pton = parse_inet_pton4(data);
    if let Some(glibc) = glibc_pton4(data) {
        assert_eq!(pton, glibc, "inet_pton4 differs from glibc on {data:?}");
    }
    let std = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .map(|a| a.octets());
    assert_eq!(pton, std, "inet_pton4 differs from std on {data:?}");
    if let Some(a) = pton {
        check_format(&a);
    }
    if let Some((a, _)) = aton {
        check_format(&a);
    }
    let mut raw = [0u8; 4];
    let n = data.len().min(4);
    raw[..n].copy_from_slice(&data[..n]);
    check_format(&raw);
});
