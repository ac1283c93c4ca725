//! The `ipaddress` core: address text, masks and networks.
//!
//! - the fast and the checked parsers agree wherever the fast one answers (IPv4 and IPv6),
//!   and `parse_address_fast` agrees with both;
//! - IPv4 text is accepted exactly as `std::net::Ipv4Addr` and glibc's `inet_pton` accept
//!   it (the stdlib's rules: four decimal octets, no leading zeros), with the same value;
//!   IPv6 text, where glibc or std also accept it, reads the same address;
//! - `format_v4`/`format_v6`/`explode_v6` parse back to the address; `format_v6` is std's
//!   text except for IPv4-mapped addresses (std writes those dotted, the stdlib does not);
//! - a prefix's netmask gives the prefix back, any other mask gives `None`; a mask string
//!   is a prefix, a netmask or a hostmask of the prefix it yields;
//! - `Summarize` covers exactly `first..=last` with aligned networks, in order;
//!   `collapse_networks` returns sorted, disjoint networks covering exactly its input.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use _native::fuzzing::ipaddr::*;
use fuzzkit::{glibc_pton4, glibc_pton6};
use libfuzzer_sys::fuzz_target;

fn check_text(s: &[u8]) {
    let v4 = parse_v4(s).ok();
    if let Some(ip) = parse_v4_fast(s) {
        assert_eq!(
            parse_v4_checked(s).ok(),
            Some(ip),
            "v4 fast/checked on {s:?}"
        );
    }
    assert_eq!(v4, parse_v4_checked(s).ok());
    let std4 = std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<Ipv4Addr>().ok());
    assert_eq!(v4, std4.map(u32::from), "v4 differs from std on {s:?}");
    if let Some(glibc) = glibc_pton4(s) {
        assert_eq!(
            v4,
            glibc.map(u32::from_be_bytes),
            "v4 differs from glibc on {s:?}"
        );
    }
    if let Ok(ip) = addr4_from_str(s) {
        assert_eq!(Some(ip), v4);
    }

    let v6 = parse_v6(s).ok();
    if let Some(ip) = parse_v6_fast(s) {
        assert_eq!(
            parse_v6_checked(s).ok(),
            Some(ip),
            "v6 fast/checked on {s:?}"
        );
    }
    assert_eq!(v6, parse_v6_checked(s).ok());
    if let Some(ours) = v6 {
        if let Some(Some(glibc)) = glibc_pton6(s) {
            assert_eq!(
                ours,
                u128::from_be_bytes(glibc),
                "v6 differs from glibc on {s:?}"
            );
        }
        if let Some(a) = std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse::<Ipv6Addr>().ok())
        {
            assert_eq!(ours, u128::from(a), "v6 differs from std on {s:?}");
        }
    }
    if let Ok((ip, scope)) = addr6_from_str(s) {
        let (addr, sc) = split_scope(s).unwrap();
        assert_eq!(scope, sc);
        assert_eq!(parse_v6(addr).ok(), Some(ip));
    }
    if let Some((is_v6, ip)) = parse_address_fast(s) {
        if is_v6 {
            assert_eq!(v6, Some(ip));
        } else {
            assert_eq!(v4.map(u128::from), Some(ip));
        }
    }
    if let Some(p) = prefix_from_mask_str_v4(s) {
        assert!(p <= V4_BITS);
        let by_prefix = prefix_from_prefix_str(s, V4_BITS) == Some(p);
        let mask = v4.map(u128::from);
        let as_net = mask == Some(netmask(p, V4_BITS));
        let as_host = mask == Some(hostmask(p, V4_BITS));
        assert!(by_prefix || as_net || as_host, "{s:?} is no mask of /{p}");
    }
    if let Some(p) = prefix_from_prefix_str(s, V6_BITS) {
        assert!(p <= V6_BITS);
        let t = std::str::from_utf8(s).unwrap();
        assert!(t.bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(t.parse::<u128>().ok(), Some(u128::from(p)));
    }
}

fn check_numbers(v4: u32, v6: u128) {
    let mut b4 = [0u8; V4_MAX_LEN];
    let n = format_v4(v4, &mut b4);
    assert_eq!(&b4[..n], Ipv4Addr::from(v4).to_string().as_bytes());
    assert_eq!(parse_v4(&b4[..n]).ok(), Some(v4));

    let mut b6 = [0u8; V6_MAX_LEN];
    let n = format_v6(v6, &mut b6);
    assert_eq!(
        parse_v6(&b6[..n]).ok(),
        Some(v6),
        "format_v6({v6:#x}) does not parse back"
    );
    let std6 = Ipv6Addr::from(v6);
    if std6.to_ipv4_mapped().is_none() {
        assert_eq!(
            &b6[..n],
            std6.to_string().as_bytes(),
            "format_v6({v6:#x}) differs from std"
        );
    }
    assert_eq!(parse_v6(&explode_v6(v6)).ok(), Some(v6));

    for (bits, value) in [(V4_BITS, u128::from(v4)), (V6_BITS, v6)] {
        let p = (value % (u128::from(bits) + 1)) as u8;
        assert_eq!(prefix_from_mask_int(netmask(p, bits), bits), Some(p));
        assert_eq!(netmask(p, bits) ^ hostmask(p, bits), all_ones(bits));
        if let Some(q) = prefix_from_mask_int(value, bits) {
            assert_eq!(value, netmask(q, bits));
        }
        for spec in [&b"x"[..], b"#_b", b"n", b"#X", b"_x"] {
            let s = format_int_spec(spec, value, bits).unwrap();
            let digits: String = s
                .chars()
                .skip(if spec[0] == b'#' { 2 } else { 0 })
                .filter(|&c| c != '_')
                .collect();
            let binary = spec.ends_with(b"b") || (spec == b"n" && bits == V4_BITS);
            let radix = if binary { 2 } else { 16 };
            assert_eq!(
                u128::from_str_radix(&digits, radix).ok(),
                Some(value),
                "{s}"
            );
        }
    }
}

/// The address ranges covered by `nets`, merged.
fn cover(nets: &[Net], bits: u8) -> Vec<(u128, u128)> {
    let mut r: Vec<(u128, u128)> = nets.iter().map(|&n| (n.0, broadcast(n, bits))).collect();
    r.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if last.1 == u128::MAX || a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn check_ranges(words: &[u128], v6: bool) {
    let bits = if v6 { V6_BITS } else { V4_BITS };
    let fit = |x: u128| x & all_ones(bits);
    if let [a, b, ..] = words {
        let (first, last) = (fit(*a).min(fit(*b)), fit(*a).max(fit(*b)));
        let nets: Vec<Net> = Summarize::new(first, last, bits).take(300).collect();
        assert!(
            nets.len() <= 2 * usize::from(bits),
            "{} networks",
            nets.len()
        );
        let mut next = first;
        for (i, &(net, p)) in nets.iter().enumerate() {
            assert_eq!(net, next);
            assert_eq!(net & hostmask(p, bits), 0, "unaligned network");
            let end = broadcast((net, p), bits);
            if i + 1 == nets.len() {
                assert_eq!(end, last);
            } else {
                next = end + 1;
            }
        }
    }
    let nets: Vec<Net> = words
        .chunks(2)
        .map(|w| {
            let p = (w[w.len() - 1] % (u128::from(bits) + 1)) as u8;
            (fit(w[0]) & netmask(p, bits), p)
        })
        .collect();
    let out = collapse_networks(nets.clone(), bits);
    for w in out.windows(2) {
        assert!(
            broadcast(w[0], bits) < w[1].0,
            "overlapping or unsorted: {w:?}"
        );
    }
    assert_eq!(
        cover(&out, bits),
        cover(&nets, bits),
        "collapse changed the addresses"
    );
}

fuzz_target!(|data: &[u8]| {
    check_text(data);
    let mut words: Vec<u128> = data
        .chunks(16)
        .map(|c| {
            let mut b = [0u8; 16];
            b[..c.len()].copy_from_slice(c);
            u128::from_le_bytes(b)
        })
        .collect();
    if words.is_empty() {
        words.push(0);
    }
    check_numbers(words[0] as u32, words[0]);
    let v6 = data.first().is_some_and(|b| b & 1 == 1);
    // Small values too, so networks meet and merge.
    let small: Vec<u128> = data
        .iter()
        .map(|&b| u128::from(b) << if v6 { 120 } else { 24 })
        .collect();
    check_ranges(&words, v6);
    check_ranges(&small[..small.len().min(64)], v6);
});
