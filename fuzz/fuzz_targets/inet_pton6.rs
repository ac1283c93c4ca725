//! IPv6 text: `inet_pton(AF_INET6)` and `inet_ntop(AF_INET6)`.
//!
//! - the SIMD mask scanner (`v6scan`), the byte loop and the combined parser agree, and
//!   all three agree with glibc's own `inet_pton` (the stdlib calls it: the specification);
//! - the SSE2 classifier gives the scalar classifier's masks for every text up to 48 bytes;
//! - where `std::net::Ipv6Addr` also accepts the text, it reads the same address;
//! - formatting (the parsed address, and the input's first 16 bytes as an address) gives
//!   glibc's `inet_ntop` text, which parses back to the same address.
#![no_main]

use std::net::Ipv6Addr;

use _native::fuzzing::addr::{
    classify, classify_scalar, ipv6_text, parse_inet_pton6, parse_inet_pton6_bytewise,
    parse_v6_masks,
};
use fuzzkit::{glibc_ntop6, glibc_pton6};
use libfuzzer_sys::fuzz_target;

fn check_format(a: &[u8; 16]) {
    let (buf, len) = ipv6_text(a);
    let text = &buf[..len];
    assert_eq!(
        std::str::from_utf8(text).unwrap(),
        glibc_ntop6(a),
        "ipv6_text({a:02x?}) differs from inet_ntop"
    );
    assert_eq!(
        parse_inet_pton6(text),
        Some(*a),
        "{text:?} does not parse back"
    );
}

fuzz_target!(|data: &[u8]| {
    let full = parse_inet_pton6(data);
    let bytewise = parse_inet_pton6_bytewise(data);
    assert_eq!(
        full, bytewise,
        "combined parser and byte loop disagree on {data:?}"
    );
    if let Some(v) = parse_v6_masks(data) {
        assert_eq!(
            Some(v.to_be_bytes()),
            bytewise,
            "v6scan and byte loop disagree on {data:?}"
        );
    }
    if data.len() <= 48 {
        assert_eq!(
            classify(data),
            classify_scalar(data),
            "classifiers disagree on {data:?}"
        );
    }
    if let Some(glibc) = glibc_pton6(data) {
        assert_eq!(
            full, glibc,
            "parse_inet_pton6 differs from glibc on {data:?}"
        );
    }
    if let Some(a) = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
    {
        if let Some(ours) = full {
            assert_eq!(ours, a.octets(), "std reads {data:?} differently");
        }
    }
    if let Some(a) = full {
        check_format(&a);
    }
    let mut raw = [0u8; 16];
    let n = data.len().min(16);
    raw[..n].copy_from_slice(&data[..n]);
    check_format(&raw);
});
