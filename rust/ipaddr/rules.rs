//! The version-dependent part of `ipaddress`, as plain Rust: which stdlib the running
//! interpreter carries ([`Rules`], decided once at import by probing the stdlib from
//! `python/ferrosock/ipaddress.py`, the one place that makes the decision) and the
//! special-range tables and `is_*` predicates that depend on it.
//!
//! The stdlib changed these inside patch releases, so a rule set is a handful of
//! independent flags, one per change, not a version number. The current set lives in one
//! atomic byte: reading it on a hot path (`is_private`, `str()`) is a relaxed load.

use std::sync::atomic::{AtomicU8, Ordering};

use super::core::{netmask, v4, V4_BITS, V6_BITS};

/// What the running interpreter's `ipaddress` does where CPython releases differ. Each
/// flag names one upstream change; `false` is CPython 3.11.7's behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// gh-113171 (3.11.10, 3.12.4, 3.13.0): the special-purpose registries of 2024.
    /// IPv4 `192.0.0.0/24` (was `/29`) is private except `192.0.0.9` and `192.0.0.10`;
    /// IPv6 adds `64:ff9b:1::/48` and `2002::/16`, drops `2001:2::/48` and
    /// `2001:10::/28`, and excepts the globally reachable blocks inside `2001::/23`.
    /// Networks are private only if neither end is in an excepted block.
    pub registry_2024: bool,
    /// RFC 9637 (later 3.12 and 3.13 patch releases): `3fff::/20` is private.
    pub private_3fff: bool,
    /// 3.13: an IPv4-mapped IPv6 address prints its IPv4 part dotted
    /// (`::ffff:1.2.3.4`), in `str()`, `exploded` (where an interface then loses its
    /// `/prefix`) and an interface's `reverse_pointer` (which loses it too).
    pub mapped_dotted: bool,
    /// 3.13.0 and later 3.12 patch releases (3.12.10 has it, 3.12.1 not): `is_loopback` of
    /// `::ffff:a.b.c.d` is the IPv4 address's (and `IPv6Interface.is_loopback` asks the
    /// address property, not `_ip == 1`).
    pub mapped_loopback: bool,
    /// Later 3.12 and 3.13 patch releases (3.12.10 has it, 3.13.0 not): `is_multicast`,
    /// `is_reserved`, `is_link_local`, `is_global` and `is_unspecified` of `::ffff:a.b.c.d`
    /// are the IPv4 address's.
    pub mapped_properties: bool,
    /// 3.13: `IPv4Address.ipv6_mapped` exists (`_ipaddress_set_rules` adds or removes the
    /// class attribute; the flag is kept here so that the rule set is one value).
    pub ipv6_mapped: bool,
    /// gh-141497 (later patch releases): `hosts()` of a one-address network is an
    /// iterator, not a list.
    pub single_host_iterator: bool,
}

const REGISTRY_2024: u8 = 1;
const PRIVATE_3FFF: u8 = 1 << 1;
const MAPPED_DOTTED: u8 = 1 << 2;
const MAPPED_LOOPBACK: u8 = 1 << 3;
const MAPPED_PROPERTIES: u8 = 1 << 4;
const IPV6_MAPPED: u8 = 1 << 5;
const SINGLE_HOST_ITERATOR: u8 = 1 << 6;

/// The rule set in force; CPython 3.11.7's until the Python layer sets the probed one.
static CURRENT: AtomicU8 = AtomicU8::new(0);

impl Rules {
    /// The rule set in force (a relaxed atomic load).
    #[inline]
    pub fn current() -> Rules {
        Rules::from_bits(CURRENT.load(Ordering::Relaxed))
    }

    /// Makes `self` the rule set in force.
    pub fn install(self) {
        CURRENT.store(self.bits(), Ordering::Relaxed);
    }

    /// The flags as one byte.
    pub const fn bits(self) -> u8 {
        (self.registry_2024 as u8 * REGISTRY_2024)
            | (self.private_3fff as u8 * PRIVATE_3FFF)
            | (self.mapped_dotted as u8 * MAPPED_DOTTED)
            | (self.mapped_loopback as u8 * MAPPED_LOOPBACK)
            | (self.mapped_properties as u8 * MAPPED_PROPERTIES)
            | (self.ipv6_mapped as u8 * IPV6_MAPPED)
            | (self.single_host_iterator as u8 * SINGLE_HOST_ITERATOR)
    }

    /// The rule set of a byte made by [`Rules::bits`].
    pub const fn from_bits(b: u8) -> Rules {
        Rules {
            registry_2024: b & REGISTRY_2024 != 0,
            private_3fff: b & PRIVATE_3FFF != 0,
            mapped_dotted: b & MAPPED_DOTTED != 0,
            mapped_loopback: b & MAPPED_LOOPBACK != 0,
            mapped_properties: b & MAPPED_PROPERTIES != 0,
            ipv6_mapped: b & IPV6_MAPPED != 0,
            single_host_iterator: b & SINGLE_HOST_ITERATOR != 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Special ranges (`_IPv4Constants` / `_IPv6Constants`)
// ---------------------------------------------------------------------------------------

/// A network as `(network address, netmask)`, the mask computed at compile time so that a
/// membership test is one AND and one compare.
type Block = (u128, u128);

const fn b4(net: u128, prefix: u8) -> Block {
    (net, netmask(prefix, V4_BITS))
}

const fn b6(net: u128, prefix: u8) -> Block {
    (net, netmask(prefix, V6_BITS))
}

/// Whether `ip` lies in any block of `table`.
#[inline(always)]
fn in_any(ip: u128, table: &[Block]) -> bool {
    table.iter().any(|&(net, mask)| ip & mask == net)
}

/// `_IPv4Constants._private_networks` before gh-113171.
const V4_PRIVATE_OLD: [Block; 14] = [
    b4(v4(0, 0, 0, 0), 8),
    b4(v4(10, 0, 0, 0), 8),
    b4(v4(127, 0, 0, 0), 8),
    b4(v4(169, 254, 0, 0), 16),
    b4(v4(172, 16, 0, 0), 12),
    b4(v4(192, 0, 0, 0), 29),
    b4(v4(192, 0, 0, 170), 31),
    b4(v4(192, 0, 2, 0), 24),
    b4(v4(192, 168, 0, 0), 16),
    b4(v4(198, 18, 0, 0), 15),
    b4(v4(198, 51, 100, 0), 24),
    b4(v4(203, 0, 113, 0), 24),
    b4(v4(240, 0, 0, 0), 4),
    b4(v4(255, 255, 255, 255), 32),
];
/// `_IPv4Constants._private_networks` since gh-113171.
const V4_PRIVATE_2024: [Block; 14] = [
    b4(v4(0, 0, 0, 0), 8),
    b4(v4(10, 0, 0, 0), 8),
    b4(v4(127, 0, 0, 0), 8),
    b4(v4(169, 254, 0, 0), 16),
    b4(v4(172, 16, 0, 0), 12),
    b4(v4(192, 0, 0, 0), 24),
    b4(v4(192, 0, 0, 170), 31),
    b4(v4(192, 0, 2, 0), 24),
    b4(v4(192, 168, 0, 0), 16),
    b4(v4(198, 18, 0, 0), 15),
    b4(v4(198, 51, 100, 0), 24),
    b4(v4(203, 0, 113, 0), 24),
    b4(v4(240, 0, 0, 0), 4),
    b4(v4(255, 255, 255, 255), 32),
];
/// `_IPv4Constants._private_networks_exceptions` (gh-113171).
const V4_PRIVATE_EXCEPTIONS: [Block; 2] = [b4(v4(192, 0, 0, 9), 32), b4(v4(192, 0, 0, 10), 32)];
const V4_PUBLIC_SHARED: Block = b4(v4(100, 64, 0, 0), 10);
const V4_RESERVED: Block = b4(v4(240, 0, 0, 0), 4);
const V4_MULTICAST: Block = b4(v4(224, 0, 0, 0), 4);
const V4_LOOPBACK: Block = b4(v4(127, 0, 0, 0), 8);
const V4_LINKLOCAL: Block = b4(v4(169, 254, 0, 0), 16);

/// `_IPv6Constants._private_networks` before gh-113171.
const V6_PRIVATE_OLD: [Block; 10] = [
    b6(1, 128),
    b6(0, 128),
    b6(0xffff_0000_0000, 96),
    b6(0x0100 << 112, 64),
    b6(0x2001 << 112, 23),
    b6((0x2001 << 112) | (0x2 << 96), 48),
    b6((0x2001 << 112) | (0xdb8 << 96), 32),
    b6((0x2001 << 112) | (0x10 << 96), 28),
    b6(0xfc00 << 112, 7),
    b6(0xfe80 << 112, 10),
];
/// `_IPv6Constants._private_networks` since gh-113171, with RFC 9637's `3fff::/20` last
/// (used only under [`Rules::private_3fff`]; order does not matter to `any`).
const V6_PRIVATE_2024: [Block; 11] = [
    b6(1, 128),
    b6(0, 128),
    b6(0xffff_0000_0000, 96),
    b6((0x64 << 112) | (0xff9b << 96) | (1 << 80), 48),
    b6(0x0100 << 112, 64),
    b6(0x2001 << 112, 23),
    b6((0x2001 << 112) | (0xdb8 << 96), 32),
    b6(0x2002 << 112, 16),
    b6(0xfc00 << 112, 7),
    b6(0xfe80 << 112, 10),
    b6(0x3fff << 112, 20),
];
/// [`V6_PRIVATE_2024`] without RFC 9637's block, as an array of its own.
const V6_PRIVATE_2024_NO_3FFF: [Block; 10] = {
    let mut t = [(0, 0); 10];
    let mut i = 0;
    while i < 10 {
        t[i] = V6_PRIVATE_2024[i];
        i += 1;
    }
    t
};
/// `_IPv6Constants._private_networks_exceptions` (gh-113171).
const V6_PRIVATE_EXCEPTIONS: [Block; 6] = [
    b6((0x2001 << 112) | (1 << 96) | 1, 128),
    b6((0x2001 << 112) | (1 << 96) | 2, 128),
    b6((0x2001 << 112) | (3 << 96), 32),
    b6((0x2001 << 112) | (4 << 96) | (0x112 << 80), 48),
    b6((0x2001 << 112) | (0x20 << 96), 28),
    b6((0x2001 << 112) | (0x30 << 96), 28),
];
/// `_IPv6Constants._reserved_networks`.
const V6_RESERVED: [Block; 15] = [
    b6(0, 8),
    b6(0x0100 << 112, 8),
    b6(0x0200 << 112, 7),
    b6(0x0400 << 112, 6),
    b6(0x0800 << 112, 5),
    b6(0x1000 << 112, 4),
    b6(0x4000 << 112, 3),
    b6(0x6000 << 112, 3),
    b6(0x8000 << 112, 3),
    b6(0xa000 << 112, 3),
    b6(0xc000 << 112, 3),
    b6(0xe000 << 112, 4),
    b6(0xf000 << 112, 5),
    b6(0xf800 << 112, 6),
    b6(0xfe00 << 112, 9),
];
const V6_LINKLOCAL: Block = b6(0xfe80 << 112, 10);
const V6_SITELOCAL: Block = b6(0xfec0 << 112, 10);
const V6_MULTICAST: Block = b6(0xff00 << 112, 8);

/// The `is_*` predicates of `IPv4Address` and `IPv4Network`.
pub mod v4props {
    use super::*;

    #[inline(always)]
    fn within(ip: u32, n: Block) -> bool {
        u128::from(ip) & n.1 == n.0
    }
    /// In one of `_private_networks`; each rule set branches to its own constant table so
    /// that the loop is unrolled over compile-time masks.
    #[inline(always)]
    fn in_private(ip: u32, r: Rules) -> bool {
        if r.registry_2024 {
            in_any(u128::from(ip), &V4_PRIVATE_2024)
        } else {
            in_any(u128::from(ip), &V4_PRIVATE_OLD)
        }
    }
    #[inline(always)]
    fn excepted(ip: u32, r: Rules) -> bool {
        r.registry_2024 && in_any(u128::from(ip), &V4_PRIVATE_EXCEPTIONS)
    }
    /// `IPv4Address.is_private`: inside one of `_private_networks` and (gh-113171)
    /// outside all `_private_networks_exceptions`.
    #[inline]
    pub fn is_private(ip: u32, r: Rules) -> bool {
        in_private(ip, r) && !excepted(ip, r)
    }
    /// `IPv4Address.is_global`: not in `100.64.0.0/10` and not private.
    #[inline]
    pub fn is_global(ip: u32, r: Rules) -> bool {
        !within(ip, V4_PUBLIC_SHARED) && !is_private(ip, r)
    }
    /// `IPv4Address.is_reserved`: inside `240.0.0.0/4`.
    pub fn is_reserved(ip: u32) -> bool {
        within(ip, V4_RESERVED)
    }
    /// `IPv4Address.is_multicast`: inside `224.0.0.0/4`.
    pub fn is_multicast(ip: u32) -> bool {
        within(ip, V4_MULTICAST)
    }
    /// `IPv4Address.is_loopback`: inside `127.0.0.0/8`.
    pub fn is_loopback(ip: u32) -> bool {
        within(ip, V4_LOOPBACK)
    }
    /// `IPv4Address.is_link_local`: inside `169.254.0.0/16`.
    pub fn is_link_local(ip: u32) -> bool {
        within(ip, V4_LINKLOCAL)
    }
    /// `IPv4Address.is_unspecified`: `0.0.0.0`.
    pub fn is_unspecified(ip: u32) -> bool {
        ip == 0
    }
    /// `IPv4Network.is_private`: both ends inside one private network and (gh-113171)
    /// neither end in an excepted one.
    pub fn net_is_private(net: u32, bcast: u32, r: Rules) -> bool {
        let table: &[Block] = if r.registry_2024 {
            &V4_PRIVATE_2024
        } else {
            &V4_PRIVATE_OLD
        };
        table.iter().any(|&n| within(net, n) && within(bcast, n))
            && !excepted(net, r)
            && !excepted(bcast, r)
    }
    /// `IPv4Network.is_global`.
    pub fn net_is_global(net: u32, bcast: u32, r: Rules) -> bool {
        let shared = within(net, V4_PUBLIC_SHARED) && within(bcast, V4_PUBLIC_SHARED);
        !shared && !net_is_private(net, bcast, r)
    }
}

/// The `is_*` predicates of `IPv6Address` and `IPv6Network`.
pub mod v6props {
    use super::*;

    #[inline(always)]
    fn within(ip: u128, n: Block) -> bool {
        ip & n.1 == n.0
    }
    /// The `_private_networks` of a rule set (for the network property, off the hot path).
    fn private_table(r: Rules) -> &'static [Block] {
        match (r.registry_2024, r.private_3fff) {
            (false, false) => &V6_PRIVATE_OLD,
            (true, false) => &V6_PRIVATE_2024[..10],
            (_, true) => &V6_PRIVATE_2024,
        }
    }
    /// In one of `_private_networks`; each rule set branches to its own constant table so
    /// that the loop is unrolled over compile-time masks.
    #[inline(always)]
    fn in_private(ip: u128, r: Rules) -> bool {
        if !r.registry_2024 && !r.private_3fff {
            in_any(ip, &V6_PRIVATE_OLD)
        } else if r.private_3fff {
            in_any(ip, &V6_PRIVATE_2024)
        } else {
            in_any(ip, &V6_PRIVATE_2024_NO_3FFF)
        }
    }
    #[inline(always)]
    fn excepted(ip: u128, r: Rules) -> bool {
        r.registry_2024 && in_any(ip, &V6_PRIVATE_EXCEPTIONS)
    }
    /// The IPv4 address behind `ip` when a property of `ip` is that address's: `ip` is
    /// IPv4-mapped and the rule set delegates the property (`delegates`).
    #[inline]
    fn mapped_if(ip: u128, delegates: bool) -> Option<u32> {
        if delegates {
            ipv4_mapped(ip)
        } else {
            None
        }
    }
    /// `ipv4_mapped`: the embedded IPv4 address of `::ffff:0:0/96`.
    #[inline]
    pub fn ipv4_mapped(ip: u128) -> Option<u32> {
        (ip >> 32 == 0xffff).then_some(ip as u32)
    }
    /// `teredo`: `(server, client)` of `2001::/32`.
    pub fn teredo(ip: u128) -> Option<(u32, u32)> {
        (ip >> 96 == 0x2001_0000).then_some(((ip >> 64) as u32, !(ip as u32)))
    }
    /// `sixtofour`: the IPv4 address embedded in `2002::/16`.
    pub fn sixtofour(ip: u128) -> Option<u32> {
        (ip >> 112 == 0x2002).then_some((ip >> 80) as u32)
    }
    /// `IPv6Address.is_private`: an IPv4-mapped address answers for its IPv4 address
    /// (every rule set); otherwise inside a private network and outside the exceptions.
    #[inline]
    pub fn is_private(ip: u128, r: Rules) -> bool {
        if let Some(v4) = ipv4_mapped(ip) {
            return v4props::is_private(v4, r);
        }
        in_private(ip, r) && !excepted(ip, r)
    }
    /// `IPv6Address.is_global`: not private (the IPv4 address's under
    /// [`Rules::mapped_properties`]).
    #[inline]
    pub fn is_global(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_properties) {
            Some(v4) => v4props::is_global(v4, r),
            None => !is_private(ip, r),
        }
    }
    /// `IPv6Address.is_reserved`: inside one of `_IPv6Constants._reserved_networks`.
    pub fn is_reserved(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_properties) {
            Some(v4) => v4props::is_reserved(v4),
            None => in_any(ip, &V6_RESERVED),
        }
    }
    /// `IPv6Address.is_multicast`: inside `ff00::/8`.
    pub fn is_multicast(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_properties) {
            Some(v4) => v4props::is_multicast(v4),
            None => within(ip, V6_MULTICAST),
        }
    }
    /// `IPv6Address.is_link_local`: inside `fe80::/10`.
    pub fn is_link_local(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_properties) {
            Some(v4) => v4props::is_link_local(v4),
            None => within(ip, V6_LINKLOCAL),
        }
    }
    /// `IPv6Address.is_site_local`: inside `fec0::/10` (never delegated).
    pub fn is_site_local(ip: u128) -> bool {
        within(ip, V6_SITELOCAL)
    }
    /// `IPv6Address.is_loopback`: `::1` (the IPv4 address's under
    /// [`Rules::mapped_loopback`]).
    pub fn is_loopback(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_loopback) {
            Some(v4) => v4props::is_loopback(v4),
            None => ip == 1,
        }
    }
    /// `IPv6Address.is_unspecified`: `::`.
    pub fn is_unspecified(ip: u128, r: Rules) -> bool {
        match mapped_if(ip, r.mapped_properties) {
            Some(v4) => v4props::is_unspecified(v4),
            None => ip == 0,
        }
    }
    /// `IPv6Interface.is_loopback`: the address property and the network's (under
    /// [`Rules::mapped_loopback`]), or `_ip == 1` and the network's before it; both come
    /// to these three address tests.
    pub fn iface_is_loopback(ip: u128, net: u128, bcast: u128, r: Rules) -> bool {
        is_loopback(ip, r) && is_loopback(net, r) && is_loopback(bcast, r)
    }
    /// `IPv6Network.is_private`: both ends inside one private network (no IPv4-mapped
    /// special case, unlike the address property) and neither end excepted.
    pub fn net_is_private(net: u128, bcast: u128, r: Rules) -> bool {
        private_table(r)
            .iter()
            .any(|&n| within(net, n) && within(bcast, n))
            && !excepted(net, r)
            && !excepted(bcast, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPython 3.11.7 and 3.12.1.
    const OLD: Rules = Rules::from_bits(0);
    /// CPython 3.13.0.
    const NEW: Rules =
        Rules::from_bits(REGISTRY_2024 | MAPPED_DOTTED | MAPPED_LOOPBACK | IPV6_MAPPED);
    /// A later 3.13 (3.12.10 has the same flags except the 3.13-only ones).
    const LATEST: Rules = Rules {
        private_3fff: true,
        mapped_properties: true,
        ..NEW
    };

    fn a4(s: [u8; 4]) -> u32 {
        u32::from_be_bytes(s)
    }

    #[test]
    fn bits_round_trip() {
        for b in 0..=0x7fu8 {
            assert_eq!(Rules::from_bits(b).bits(), b);
        }
        assert_eq!(Rules::default(), OLD);
    }

    #[test]
    fn v4_registry() {
        // 192.0.0.8 joined the private space with the /24; .9 and .10 are excepted.
        for (ip, old, new) in [
            ([192, 0, 0, 8], false, true),
            ([192, 0, 0, 7], true, true),
            ([192, 0, 0, 9], false, false),
            ([192, 0, 0, 10], false, false),
            ([192, 0, 0, 200], false, true),
            ([10, 1, 2, 3], true, true),
            ([8, 8, 8, 8], false, false),
        ] {
            assert_eq!(v4props::is_private(a4(ip), OLD), old, "{ip:?}");
            assert_eq!(v4props::is_private(a4(ip), NEW), new, "{ip:?}");
        }
        // 100.64.0.0/10 is neither private nor global under every rule set.
        for r in [OLD, NEW] {
            assert!(!v4props::is_private(a4([100, 64, 0, 1]), r));
            assert!(!v4props::is_global(a4([100, 64, 0, 1]), r));
        }
        let (n, b) = (a4([192, 0, 0, 8]), a4([192, 0, 0, 11]));
        assert!(!v4props::net_is_private(n, b, OLD));
        // 192.0.0.8/30 holds the excepted .9 and .10 only inside, so its ends decide.
        assert!(v4props::net_is_private(n, b, NEW));
        assert!(!v4props::net_is_private(
            a4([192, 0, 0, 8]),
            a4([192, 0, 0, 9]),
            NEW
        ));
    }

    #[test]
    fn v6_registry() {
        let p = |s: u128| s << 112;
        for (ip, old, new, latest) in [
            (p(0x2002) | 1, false, true, true),
            ((p(0x2001) | (0x2 << 96)) | 1, true, true, true),
            ((p(0x2001) | (0x10 << 96)) | 1, true, true, true),
            ((p(0x2001) | (0x20 << 96)) | 1, true, false, false),
            ((p(0x2001) | (1 << 96)) | 1, true, false, false),
            ((p(0x2001) | (1 << 96)) | 3, true, true, true),
            (p(0x64) | (0xff9b << 96) | (1 << 80), false, true, true),
            (p(0x3fff) | 1, false, false, true),
            (p(0x2a00) | 1, false, false, false),
        ] {
            assert_eq!(v6props::is_private(ip, OLD), old, "{ip:x}");
            assert_eq!(v6props::is_private(ip, NEW), new, "{ip:x}");
            assert_eq!(v6props::is_private(ip, LATEST), latest, "{ip:x}");
            assert_eq!(v6props::is_global(ip, NEW), !new, "{ip:x}");
        }
    }

    #[test]
    fn ipv4_mapped_properties() {
        let m = |v: [u8; 4]| 0xffff_0000_0000u128 | u128::from(a4(v));
        let lo = m([127, 0, 0, 1]);
        assert!(!v6props::is_loopback(lo, OLD));
        assert!(v6props::is_loopback(lo, NEW));
        assert!(v6props::iface_is_loopback(
            lo,
            lo & !0xff_ffff,
            lo | 0xff_ffff,
            NEW
        ));
        assert!(v6props::iface_is_loopback(1, 1, 1, OLD));
        assert!(!v6props::iface_is_loopback(1, 0, 1, OLD));
        // is_private delegates under every rule set; is_global only with the later fix.
        let shared = m([100, 64, 0, 1]);
        for r in [OLD, NEW, LATEST] {
            assert!(!v6props::is_private(shared, r));
            assert!(v6props::is_private(m([10, 0, 0, 1]), r));
        }
        assert!(v6props::is_global(shared, NEW));
        assert!(!v6props::is_global(shared, LATEST));
        assert!(!v6props::is_multicast(m([224, 0, 0, 1]), NEW));
        assert!(v6props::is_multicast(m([224, 0, 0, 1]), LATEST));
        assert!(v6props::is_reserved(m([1, 2, 3, 4]), NEW));
        assert!(!v6props::is_reserved(m([1, 2, 3, 4]), LATEST));
        assert!(v6props::is_link_local(m([169, 254, 1, 1]), LATEST));
        assert!(v6props::is_unspecified(m([0, 0, 0, 0]), LATEST));
        assert!(!v6props::is_unspecified(m([0, 0, 0, 0]), NEW));
        assert!(!v6props::is_site_local(m([1, 2, 3, 4])));
        assert_eq!(
            v6props::sixtofour((0x2002u128 << 112) | (0x0102_0304u128 << 80)),
            Some(0x0102_0304)
        );
    }
}
