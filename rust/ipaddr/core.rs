//! The mechanism behind `ferrosock.ipaddress`, as plain Rust: CPython's `Lib/ipaddress.py`
//! parsing rules (not glibc's), its formatting and its range algorithms (`summarize_address_range`, `_collapse_addresses_internal`,
//! `address_exclude`, `subnets`, `supernet`). Errors are values that remember what the
//! stdlib would put in its message; the Python layer renders them with Python's `repr`.
//!
//! Addresses of both versions are held as `u128` with a bit width (`32` or `128`) where the
//! algorithm is version independent.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Bits in an IPv4 address (`ipaddress.IPV4LENGTH`).
pub const V4_BITS: u8 = 32;
/// Bits in an IPv6 address (`ipaddress.IPV6LENGTH`).
pub const V6_BITS: u8 = 128;

/// `_ALL_ONES` for a `bits`-wide address.
#[inline]
pub const fn all_ones(bits: u8) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// `_ip_int_from_prefix`: the netmask of a `/prefix` network.
#[inline]
pub const fn netmask(prefix: u8, bits: u8) -> u128 {
    all_ones(bits) ^ hostmask(prefix, bits)
}

/// The hostmask of a `/prefix` network (`netmask ^ _ALL_ONES`).
#[inline]
pub const fn hostmask(prefix: u8, bits: u8) -> u128 {
    if prefix >= bits {
        0
    } else {
        all_ones(bits) >> prefix
    }
}

/// `_count_righthand_zero_bits(number, bits)`.
#[inline]
pub fn righthand_zero_bits(number: u128, bits: u8) -> u8 {
    if number == 0 {
        bits
    } else {
        (number.trailing_zeros() as u8).min(bits)
    }
}

/// `_prefix_from_ip_int`: the prefix length of a netmask, or `None` when the bits are not
/// ones followed by zeros.
pub fn prefix_from_mask_int(mask: u128, bits: u8) -> Option<u8> {
    let tz = righthand_zero_bits(mask, bits);
    let prefix = bits - tz;
    let leading = if tz >= 128 { 0 } else { mask >> tz };
    let want = if prefix == 0 { 0 } else { all_ones(prefix) };
    (leading == want).then_some(prefix)
}

// ---------------------------------------------------------------------------------------
// repr
// ---------------------------------------------------------------------------------------

/// Python's `repr()` of a `str` made of ASCII characters only (`None` for anything else,
/// which the caller hands to Python): single quotes unless the text holds a `'` and no `"`,
/// `\t` `\n` `\r` and `\\` escaped, other control characters as `\xNN`.
pub fn ascii_repr(s: &[u8]) -> Option<String> {
    if !s.is_ascii() {
        return None;
    }
    let quote = if s.contains(&b'\'') && !s.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote as char);
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            c if c < 0x20 || c == 0x7f => out.push_str(&format!("\\x{c:02x}")),
            c => out.push(c as char),
        }
    }
    out.push(quote as char);
    Some(out)
}

/// Renders a piece of the user's input the way `%r` would.
pub trait Repr {
    fn repr(&mut self, s: &[u8]) -> String;
}

impl<F: FnMut(&[u8]) -> String> Repr for F {
    fn repr(&mut self, s: &[u8]) -> String {
        self(s)
    }
}

// ---------------------------------------------------------------------------------------
// IPv4 parsing
// ---------------------------------------------------------------------------------------

/// Why `_BaseV4._parse_octet` refused an octet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OctetError<'a> {
    Empty,
    NotDecimal(&'a [u8]),
    TooLong(&'a [u8]),
    LeadingZero(&'a [u8]),
    TooLarge(u32),
}

/// Why `_BaseV4._ip_int_from_string` refused a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V4Error<'a> {
    Empty,
    OctetCount,
    Octet(OctetError<'a>),
}

impl V4Error<'_> {
    /// The `AddressValueError` message for `whole`, the string that was parsed.
    pub fn message(&self, whole: &[u8], r: &mut dyn Repr) -> String {
        match self {
            V4Error::Empty => "Address cannot be empty".to_owned(),
            V4Error::OctetCount => format!("Expected 4 octets in {}", r.repr(whole)),
            V4Error::Octet(e) => {
                let inner = match e {
                    OctetError::Empty => "Empty octet not permitted".to_owned(),
                    OctetError::NotDecimal(o) => {
                        format!("Only decimal digits permitted in {}", r.repr(o))
                    }
                    OctetError::TooLong(o) => {
                        format!("At most 3 characters permitted in {}", r.repr(o))
                    }
                    OctetError::LeadingZero(o) => {
                        format!("Leading zeros are not permitted in {}", r.repr(o))
                    }
                    OctetError::TooLarge(v) => format!("Octet {v} (> 255) not permitted"),
                };
                format!("{inner} in {}", r.repr(whole))
            }
        }
    }
}

fn parse_octet(o: &[u8]) -> Result<u32, OctetError<'_>> {
    if o.is_empty() {
        return Err(OctetError::Empty);
    }
    if !o.iter().all(u8::is_ascii_digit) {
        return Err(OctetError::NotDecimal(o));
    }
    if o.len() > 3 {
        return Err(OctetError::TooLong(o));
    }
    if o.len() > 1 && o[0] == b'0' {
        return Err(OctetError::LeadingZero(o));
    }
    let v = o
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    if v > 255 {
        return Err(OctetError::TooLarge(v));
    }
    Ok(v)
}

/// `_BaseV4._ip_int_from_string`: exactly four decimal octets, no leading zeros, no signs or
/// spaces (stricter than glibc's `inet_aton`, the same as `inet_pton` on the accepted set).
pub fn parse_v4(s: &[u8]) -> Result<u32, V4Error<'_>> {
    match parse_v4_fast(s) {
        Some(ip) => Ok(ip),
        None => parse_v4_checked(s),
    }
}

/// One pass over a well-formed dotted quad; `None` sends anything unusual to the checked
/// parser, which finds the stdlib's error.
#[inline]
pub fn parse_v4_fast(s: &[u8]) -> Option<u32> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut ip: u32 = 0;
    let mut octet: u32 = 0;
    let mut digits = 0u32;
    let mut dots = 0u32;
    for &c in s {
        if c.is_ascii_digit() {
            // A second digit after a leading zero is refused.
            if digits == 1 && octet == 0 {
                return None;
            }
            octet = octet * 10 + u32::from(c - b'0');
            digits += 1;
            if octet > 255 {
                return None;
            }
        } else if c == b'.' && digits > 0 && dots < 3 {
            ip = (ip << 8) | octet;
            octet = 0;
            digits = 0;
            dots += 1;
        } else {
            return None;
        }
    }
    (dots == 3 && digits > 0).then_some((ip << 8) | octet)
}

/// [`parse_v4`] without the fast path: every check of the stdlib, in its order.
pub fn parse_v4_checked(s: &[u8]) -> Result<u32, V4Error<'_>> {
    if s.is_empty() {
        return Err(V4Error::Empty);
    }
    let mut parts: [&[u8]; 4] = [&[]; 4];
    let mut n = 0usize;
    for part in s.split(|&c| c == b'.') {
        if n == 4 {
            return Err(V4Error::OctetCount);
        }
        parts[n] = part;
        n += 1;
    }
    if n != 4 {
        return Err(V4Error::OctetCount);
    }
    let mut ip = 0u32;
    for p in parts {
        ip = (ip << 8) | parse_octet(p).map_err(V4Error::Octet)?;
    }
    Ok(ip)
}

// ---------------------------------------------------------------------------------------
// IPv6 parsing
// ---------------------------------------------------------------------------------------

/// Why `_BaseV6._parse_hextet` refused a hextet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HextetError<'a> {
    NotHex(&'a [u8]),
    TooLong(&'a [u8]),
    /// `int('', 16)`; the stdlib's structure checks make it unreachable, kept for totality.
    Empty,
}

/// Why `_BaseV6._ip_int_from_string` refused a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V6Error<'a> {
    Empty,
    TooFewParts,
    /// The dotted IPv4 tail (`part`) was refused.
    V4 {
        part: &'a [u8],
        err: V4Error<'a>,
    },
    TooManyColons,
    MultipleDoubleColon,
    LeadingColon,
    TrailingColon,
    TooManyWithDoubleColon,
    WrongPartCount,
    Hextet(HextetError<'a>),
}

impl V6Error<'_> {
    /// The `AddressValueError` message for `whole`, the string that was parsed.
    pub fn message(&self, whole: &[u8], r: &mut dyn Repr) -> String {
        match self {
            V6Error::Empty => "Address cannot be empty".to_owned(),
            V6Error::TooFewParts => format!("At least 3 parts expected in {}", r.repr(whole)),
            V6Error::V4 { part, err } => {
                let inner = err.message(part, r);
                format!("{inner} in {}", r.repr(whole))
            }
            V6Error::TooManyColons => format!("At most 8 colons permitted in {}", r.repr(whole)),
            V6Error::MultipleDoubleColon => {
                format!("At most one '::' permitted in {}", r.repr(whole))
            }
            V6Error::LeadingColon => format!(
                "Leading ':' only permitted as part of '::' in {}",
                r.repr(whole)
            ),
            V6Error::TrailingColon => format!(
                "Trailing ':' only permitted as part of '::' in {}",
                r.repr(whole)
            ),
            V6Error::TooManyWithDoubleColon => format!(
                "Expected at most 7 other parts with '::' in {}",
                r.repr(whole)
            ),
            V6Error::WrongPartCount => {
                format!("Exactly 8 parts expected without '::' in {}", r.repr(whole))
            }
            V6Error::Hextet(e) => {
                let inner = match e {
                    HextetError::NotHex(h) => {
                        format!("Only hex digits permitted in {}", r.repr(h))
                    }
                    HextetError::TooLong(h) => {
                        format!("At most 4 characters permitted in {}", r.repr(h))
                    }
                    HextetError::Empty => "invalid literal for int() with base 16: ''".to_owned(),
                };
                format!("{inner} in {}", r.repr(whole))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Part<'a> {
    Text(&'a [u8]),
    Value(u16),
}

impl Part<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Part::Text(t) if t.is_empty())
    }
}

fn parse_hextet(p: Part<'_>) -> Result<u128, HextetError<'_>> {
    match p {
        Part::Value(v) => Ok(u128::from(v)),
        Part::Text(h) => {
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return Err(HextetError::NotHex(h));
            }
            if h.len() > 4 {
                return Err(HextetError::TooLong(h));
            }
            if h.is_empty() {
                return Err(HextetError::Empty);
            }
            Ok(h.iter().fold(0u128, |acc, &c| {
                (acc << 4) | u128::from((c as char).to_digit(16).unwrap_or(0))
            }))
        }
    }
}

/// `_BaseV6._ip_int_from_string` (the scope id already split off), its checks in its order
/// so that the first problem reported is the stdlib's.
pub fn parse_v6(s: &[u8]) -> Result<u128, V6Error<'_>> {
    match parse_v6_fast(s) {
        Some(ip) => Ok(ip),
        None => parse_v6_checked(s),
    }
}

/// Hex digit values, 0xff for anything else (a table: random hex text defeats branch
/// prediction).
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// One pass over plain hextets with at most one `::` (no IPv4 tail); `None` sends anything
/// else to the checked parser.
#[inline]
pub fn parse_v6_fast(s: &[u8]) -> Option<u128> {
    let n = s.len();
    if !(2..=39).contains(&n) {
        return None;
    }
    let mut groups = [0u16; 8];
    let mut ng = 0usize;
    let mut gap: Option<usize> = None;
    let mut i = 0usize;
    if s[0] == b':' {
        if s[1] != b':' {
            return None;
        }
        gap = Some(0);
        i = 2;
    }
    while i < n {
        let start = i;
        let mut v = 0u32;
        while i < n {
            let d = HEX_VALUE[usize::from(s[i])];
            if d == 0xff {
                break;
            }
            v = (v << 4) | u32::from(d);
            i += 1;
        }
        let len = i - start;
        if len == 0 || len > 4 || ng == 8 {
            return None;
        }
        groups[ng] = v as u16;
        ng += 1;
        if i == n {
            break;
        }
        if s[i] != b':' {
            return None;
        }
        i += 1;
        if i == n {
            return None;
        }
        if s[i] == b':' {
            if gap.is_some() {
                return None;
            }
            gap = Some(ng);
            i += 1;
        }
    }
    let mut ip: u128 = 0;
    match gap {
        None if ng == 8 => {
            for &g in &groups {
                ip = (ip << 16) | u128::from(g);
            }
        }
        Some(g) if ng <= 7 => {
            for &h in &groups[..g] {
                ip = (ip << 16) | u128::from(h);
            }
            let skipped = 8 - ng;
            ip = if skipped >= 8 {
                0
            } else {
                ip << (16 * skipped)
            };
            for &h in &groups[g..ng] {
                ip = (ip << 16) | u128::from(h);
            }
        }
        _ => return None,
    }
    Some(ip)
}

/// [`parse_v6`] without the fast path: every check of the stdlib, in its order.
pub fn parse_v6_checked(s: &[u8]) -> Result<u128, V6Error<'_>> {
    if s.is_empty() {
        return Err(V6Error::Empty);
    }
    let colons = s.iter().filter(|&&c| c == b':').count();
    let nparts = colons + 1;
    if nparts < 3 {
        return Err(V6Error::TooFewParts);
    }
    let last_start = s.iter().rposition(|&c| c == b':').map_or(0, |i| i + 1);
    let last = &s[last_start..];
    let v4 = if last.contains(&b'.') {
        Some(parse_v4(last).map_err(|err| V6Error::V4 { part: last, err })?)
    } else {
        None
    };
    let total = nparts + usize::from(v4.is_some());
    if total > 9 {
        return Err(V6Error::TooManyColons);
    }
    let mut parts = [Part::Value(0); 9];
    let mut len = 0usize;
    for (i, p) in s.split(|&c| c == b':').enumerate() {
        match v4 {
            Some(v) if i == nparts - 1 => {
                parts[len] = Part::Value((v >> 16) as u16);
                parts[len + 1] = Part::Value(v as u16);
                len += 2;
            }
            _ => {
                parts[len] = Part::Text(p);
                len += 1;
            }
        }
    }
    let parts = &parts[..len];

    let mut skip_index = None;
    for (i, p) in parts.iter().enumerate().take(len - 1).skip(1) {
        if p.is_empty() {
            if skip_index.is_some() {
                return Err(V6Error::MultipleDoubleColon);
            }
            skip_index = Some(i);
        }
    }
    let (parts_hi, parts_lo, parts_skipped) = if let Some(skip) = skip_index {
        let mut hi = skip;
        let mut lo = len - skip - 1;
        if parts[0].is_empty() {
            hi -= 1;
            if hi != 0 {
                return Err(V6Error::LeadingColon);
            }
        }
        if parts[len - 1].is_empty() {
            lo -= 1;
            if lo != 0 {
                return Err(V6Error::TrailingColon);
            }
        }
        if hi + lo >= 8 {
            return Err(V6Error::TooManyWithDoubleColon);
        }
        (hi, lo, 8 - (hi + lo))
    } else {
        if len != 8 {
            return Err(V6Error::WrongPartCount);
        }
        if parts[0].is_empty() {
            return Err(V6Error::LeadingColon);
        }
        if parts[len - 1].is_empty() {
            return Err(V6Error::TrailingColon);
        }
        (len, 0, 0)
    };
    let mut ip: u128 = 0;
    for p in &parts[..parts_hi] {
        ip = (ip << 16) | parse_hextet(*p).map_err(V6Error::Hextet)?;
    }
    if parts_skipped > 0 {
        ip = if parts_skipped >= 8 {
            0
        } else {
            ip << (16 * parts_skipped)
        };
    }
    for p in &parts[len - parts_lo..] {
        ip = (ip << 16) | parse_hextet(*p).map_err(V6Error::Hextet)?;
    }
    Ok(ip)
}

/// `_BaseV6._split_scope_id`: `(address, scope)`, or `Err(())` for an empty scope or a
/// second `%` (`AddressValueError('Invalid IPv6 address: "%r"')`).
#[allow(clippy::result_unit_err)]
pub fn split_scope(s: &[u8]) -> Result<(&[u8], Option<&[u8]>), ()> {
    match s.iter().position(|&c| c == b'%') {
        None => Ok((s, None)),
        Some(i) => {
            let scope = &s[i + 1..];
            if scope.is_empty() || scope.contains(&b'%') {
                Err(())
            } else {
                Ok((&s[..i], Some(scope)))
            }
        }
    }
}

/// Why an `IPv4Address(str)` / `IPv6Address(str)` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrStrError<'a> {
    /// `"Unexpected '/' in %r"` (of the original argument).
    Slash,
    /// `'Invalid IPv6 address: "%r"'` (of the whole string).
    Scope,
    V4(V4Error<'a>),
    /// The error and the string parsed (the part before any `%`).
    V6(V6Error<'a>, &'a [u8]),
}

/// `IPv4Address.__init__` for a string.
pub fn addr4_from_str(s: &[u8]) -> Result<u32, AddrStrError<'_>> {
    if let Some(ip) = parse_v4_fast(s) {
        return Ok(ip);
    }
    if s.contains(&b'/') {
        return Err(AddrStrError::Slash);
    }
    parse_v4(s).map_err(AddrStrError::V4)
}

/// `ip_address()` for the common shapes (a dotted quad, or hextets and colons without a
/// scope id): `(is_v6, value)`, or `None` for the full parsers to decide.
#[inline]
pub fn parse_address_fast(s: &[u8]) -> Option<(bool, u128)> {
    if let Some(ip) = parse_v4_fast(s) {
        return Some((false, u128::from(ip)));
    }
    parse_v6_fast(s).map(|ip| (true, ip))
}

/// `IPv6Address.__init__` for a string: the address and its scope id.
pub fn addr6_from_str(s: &[u8]) -> Result<(u128, Option<&[u8]>), AddrStrError<'_>> {
    // Only hex digits and colons: no '/' or '%' to look for.
    if let Some(ip) = parse_v6_fast(s) {
        return Ok((ip, None));
    }
    if s.contains(&b'/') {
        return Err(AddrStrError::Slash);
    }
    let (addr, scope) = split_scope(s).map_err(|()| AddrStrError::Scope)?;
    let ip = parse_v6(addr).map_err(|e| AddrStrError::V6(e, addr))?;
    Ok((ip, scope))
}

// ---------------------------------------------------------------------------------------
// Netmasks
// ---------------------------------------------------------------------------------------

/// `_prefix_from_prefix_string`: ASCII digits only (leading zeros allowed, no sign or
/// space), at most `bits`.
pub fn prefix_from_prefix_str(s: &[u8], bits: u8) -> Option<u8> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        v = v * 10 + u32::from(c - b'0');
        if v > u32::from(bits) {
            return None;
        }
    }
    Some(v as u8)
}

/// `_BaseV4._make_netmask` for a string: a prefix length, else a dotted netmask, else a
/// dotted hostmask (all-zeros and all-ones count as netmasks).
pub fn prefix_from_mask_str_v4(s: &[u8]) -> Option<u8> {
    if let Some(p) = prefix_from_prefix_str(s, V4_BITS) {
        return Some(p);
    }
    let ip = u128::from(parse_v4(s).ok()?);
    prefix_from_mask_int(ip, V4_BITS)
        .or_else(|| prefix_from_mask_int(ip ^ all_ones(V4_BITS), V4_BITS))
}

/// `_BaseV6._make_netmask` for a string: a prefix length only.
pub fn prefix_from_mask_str_v6(s: &[u8]) -> Option<u8> {
    prefix_from_prefix_str(s, V6_BITS)
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

/// Longest IPv4 text: `255.255.255.255`.
pub const V4_MAX_LEN: usize = 15;
/// Longest IPv6 text: eight four-digit groups.
pub const V6_MAX_LEN: usize = 39;

fn push_dec(out: &mut [u8], at: usize, v: u8) -> usize {
    let mut n = at;
    if v >= 100 {
        out[n] = b'0' + v / 100;
        n += 1;
    }
    if v >= 10 {
        out[n] = b'0' + (v / 10) % 10;
        n += 1;
    }
    out[n] = b'0' + v % 10;
    n + 1
}

/// `_BaseV4._string_from_ip_int`: dotted decimal into `out`; returns the length.
pub fn format_v4(ip: u32, out: &mut [u8; V4_MAX_LEN]) -> usize {
    let b = ip.to_be_bytes();
    let mut n = push_dec(out, 0, b[0]);
    for &x in &b[1..] {
        out[n] = b'.';
        n = push_dec(out, n + 1, x);
    }
    n
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hextet(out: &mut [u8], at: usize, h: u16) -> usize {
    let mut n = at;
    let mut started = false;
    for shift in [12u32, 8, 4, 0] {
        let nib = ((h >> shift) & 0xf) as usize;
        if nib != 0 || started || shift == 0 {
            out[n] = HEX[nib];
            n += 1;
            started = true;
        }
    }
    n
}

fn hextets(ip: u128) -> [u16; 8] {
    let mut h = [0u16; 8];
    for (i, x) in h.iter_mut().enumerate() {
        *x = (ip >> (112 - 16 * i)) as u16;
    }
    h
}

/// `_BaseV6._string_from_ip_int`: lowercase hextets without leading zeros, the first
/// longest run of two or more zero hextets as `::`. Unlike glibc's `inet_ntop` there is
/// never a dotted IPv4 tail (`::ffff:102:304`, not `::ffff:1.2.3.4`).
pub fn format_v6(ip: u128, out: &mut [u8; V6_MAX_LEN]) -> usize {
    let h = hextets(ip);
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let (mut cur_start, mut cur_len) = (0usize, 0usize);
    for (i, &x) in h.iter().enumerate() {
        if x == 0 {
            if cur_len == 0 {
                cur_start = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                best_len = cur_len;
                best_start = cur_start;
            }
        } else {
            cur_len = 0;
        }
    }
    let mut n = 0usize;
    if best_len > 1 {
        for (i, &x) in h[..best_start].iter().enumerate() {
            if i > 0 {
                out[n] = b':';
                n += 1;
            }
            n = push_hextet(out, n, x);
        }
        out[n] = b':';
        out[n + 1] = b':';
        n += 2;
        for (i, &x) in h[best_start + best_len..].iter().enumerate() {
            if i > 0 {
                out[n] = b':';
                n += 1;
            }
            n = push_hextet(out, n, x);
        }
    } else {
        for (i, &x) in h.iter().enumerate() {
            if i > 0 {
                out[n] = b':';
                n += 1;
            }
            n = push_hextet(out, n, x);
        }
    }
    n
}

/// `IPv6Address._ipv4_mapped_ipv6_to_str` (CPython 3.13): an IPv4-mapped address as
/// `::ffff:` and its IPv4 address in dotted decimal; returns the length.
pub fn format_v6_mapped(v4: u32, out: &mut [u8; V6_MAX_LEN]) -> usize {
    out[..7].copy_from_slice(b"::ffff:");
    let mut b = [0u8; V4_MAX_LEN];
    let n = format_v4(v4, &mut b);
    out[7..7 + n].copy_from_slice(&b[..n]);
    7 + n
}

/// Length of the `0000:0000:0000:0000:0000:ffff:` head that CPython 3.13's `exploded` of
/// an IPv4-mapped address keeps before the dotted IPv4 address.
pub const V6_MAPPED_HEAD: usize = 30;

/// `exploded` of an IPv6 address: eight four-digit lowercase groups.
pub fn explode_v6(ip: u128) -> [u8; V6_MAX_LEN] {
    let mut out = [b':'; V6_MAX_LEN];
    for i in 0..32 {
        let nib = ((ip >> (124 - 4 * i)) & 0xf) as usize;
        out[i + i / 4] = HEX[nib];
    }
    out
}

/// `_BaseAddress.__format__` for the specs its regex `(#?)(_?)([xbnX])` accepts (`None`
/// for any other spec, which the stdlib hands to `object.__format__`): the value
/// zero-padded to the full address width, `_` every four digits, `0b`/`0x`/`0X` with `#`.
pub fn format_int_spec(spec: &[u8], value: u128, bits: u8) -> Option<String> {
    let (alternate, rest) = match spec.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, spec),
    };
    let (grouping, rest) = match rest.split_first() {
        Some((b'_', rest)) => (true, rest),
        _ => (false, rest),
    };
    let base = match rest {
        [c @ (b'x' | b'b' | b'n' | b'X')] => *c,
        _ => return None,
    };
    let base = match base {
        b'n' if bits == V4_BITS => b'b',
        b'n' => b'x',
        c => c,
    };
    let (digit_bits, ndigits) = if base == b'b' {
        (1u32, bits as usize)
    } else {
        (4u32, bits as usize / 4)
    };
    let mut out = String::with_capacity(2 + ndigits + ndigits / 4);
    if alternate {
        out.push('0');
        out.push(match base {
            b'b' => 'b',
            b'X' => 'X',
            _ => 'x',
        });
    }
    let mask = (1u128 << digit_bits) - 1;
    for i in 0..ndigits {
        if grouping && i > 0 && (ndigits - i) % 4 == 0 {
            out.push('_');
        }
        let shift = digit_bits as usize * (ndigits - 1 - i);
        let d = ((value >> shift) & mask) as usize;
        let c = HEX[d];
        out.push(if base == b'X' {
            c.to_ascii_uppercase() as char
        } else {
            c as char
        });
    }
    Some(out)
}

/// `reverse_pointer` of an IPv4 object: the dot-separated fields of `text` (its `str()`)
/// reversed, then `.in-addr.arpa` (`'0/24.3.2.1.in-addr.arpa'` for a network, as in the
/// stdlib).
pub fn reverse_pointer_v4(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 13);
    for (i, f) in text.rsplit('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(f);
    }
    out.push_str(".in-addr.arpa");
    out
}

/// `reverse_pointer` of an IPv6 object: the characters of `exploded` reversed, colons
/// dropped, joined with dots, then `.ip6.arpa`.
pub fn reverse_pointer_v6(exploded: &str) -> String {
    let mut out = String::with_capacity(exploded.len() * 2 + 9);
    for (i, c) in exploded.chars().rev().filter(|&c| c != ':').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push(c);
    }
    out.push_str(".ip6.arpa");
    out
}

/// An IPv4 address from its four octets, as the `u128` the algorithms use.
pub const fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    ((a as u128) << 24) | ((b as u128) << 16) | ((c as u128) << 8) | d as u128
}

// ---------------------------------------------------------------------------------------
// Range algorithms
// ---------------------------------------------------------------------------------------

/// A network as `(network address, prefix length)`.
pub type Net = (u128, u8);

/// The last address of a network.
#[inline]
pub fn broadcast(net: Net, bits: u8) -> u128 {
    net.0 | hostmask(net.1, bits)
}

/// `summarize_address_range(first, last)` after its checks: the networks covering
/// `first..=last`, in order.
#[derive(Debug, Clone)]
pub struct Summarize {
    cur: u128,
    last: u128,
    bits: u8,
    done: bool,
}

impl Summarize {
    pub fn new(first: u128, last: u128, bits: u8) -> Self {
        Summarize {
            cur: first,
            last,
            bits,
            done: first > last,
        }
    }
}

impl Iterator for Summarize {
    type Item = Net;
    fn next(&mut self) -> Option<Net> {
        if self.done {
            return None;
        }
        let diff = self.last - self.cur;
        // (last - first + 1).bit_length() - 1, where the count may be 2**128.
        let span_bits = if diff == u128::MAX {
            128
        } else {
            (127 - (diff + 1).leading_zeros()) as u8
        };
        let nbits = righthand_zero_bits(self.cur, self.bits).min(span_bits);
        let net = (self.cur, self.bits - nbits);
        let step = if nbits >= 128 {
            None
        } else {
            Some(1u128 << nbits)
        };
        match step.and_then(|s| self.cur.checked_add(s)) {
            Some(next) if next - 1 < all_ones(self.bits) && next <= self.last => self.cur = next,
            _ => self.done = true,
        }
        Some(net)
    }
}

#[derive(Default)]
struct NetHasher(u64);

impl Hasher for NetHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
}

type NetMap<V> = HashMap<Net, V, BuildHasherDefault<NetHasher>>;

/// `_BaseNetwork.supernet()` with the default argument, as the collapse uses it.
#[inline]
fn supernet1(net: Net, bits: u8) -> Net {
    if net.1 == 0 {
        net
    } else {
        (net.0 & netmask(net.1 - 1, bits), net.1 - 1)
    }
}

/// `_collapse_addresses_internal` for unscoped networks: merge sibling pairs into their
/// supernet (the stdlib's stack order, so the same networks survive), sort, and drop the
/// networks inside an earlier one.
pub fn collapse_networks(to_merge: Vec<Net>, bits: u8) -> Vec<Net> {
    let mut to_merge = to_merge;
    let mut subnets: NetMap<Net> = NetMap::default();
    subnets.reserve(to_merge.len());
    while let Some(net) = to_merge.pop() {
        let sup = supernet1(net, bits);
        match subnets.get(&sup) {
            None => {
                subnets.insert(sup, net);
            }
            Some(&existing) if existing != net => {
                subnets.remove(&sup);
                to_merge.push(sup);
            }
            Some(_) => {}
        }
    }
    let mut values: Vec<Net> = subnets.into_values().collect();
    values.sort_unstable();
    let mut out: Vec<Net> = Vec::with_capacity(values.len());
    for net in values {
        if let Some(&last) = out.last() {
            if broadcast(last, bits) >= broadcast(net, bits) {
                continue;
            }
        }
        out.push(net);
    }
    out
}

/// The first half of `collapse_addresses`: sorted, deduplicated addresses summarised into
/// networks, range by range (`_find_address_range` + `summarize_address_range`).
pub fn summarize_sorted_addresses(ips: &[u128], bits: u8, out: &mut Vec<Net>) {
    let mut i = 0usize;
    while i < ips.len() {
        let first = ips[i];
        let mut last = first;
        i += 1;
        while i < ips.len() && last.checked_add(1) == Some(ips[i]) {
            last = ips[i];
            i += 1;
        }
        out.extend(Summarize::new(first, last, bits));
    }
}

/// Why `address_exclude` stopped, once its generator has started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExcludeError {
    /// `s1, s2 = net.subnets()` on a single-address network:
    /// `ValueError('not enough values to unpack (expected 2, got 1)')`.
    Unpack,
    /// The stdlib's `AssertionError('Error performing exclusion: ...')` with `s1`, `s2`.
    Assertion(Net, Net),
}

/// The loop of `_BaseNetwork.address_exclude` after its checks. `other_scoped` makes every
/// `s == other` false, as the stdlib's comparison with a scoped network address does.
#[derive(Debug, Clone)]
pub struct Exclude {
    s1: Net,
    s2: Net,
    other: Net,
    other_scoped: bool,
    bits: u8,
    pending: Option<ExcludeError>,
    done: bool,
}

fn halves(net: Net, bits: u8) -> Result<(Net, Net), ExcludeError> {
    if net.1 >= bits {
        return Err(ExcludeError::Unpack);
    }
    let p = net.1 + 1;
    Ok(((net.0, p), (net.0 | (1u128 << (bits - p)), p)))
}

impl Exclude {
    /// Starts the loop with `s1, s2 = self.subnets()`.
    pub fn new(this: Net, other: Net, other_scoped: bool, bits: u8) -> Self {
        let (s1, s2, pending) = match halves(this, bits) {
            Ok((a, b)) => (a, b, None),
            Err(e) => (this, this, Some(e)),
        };
        Exclude {
            s1,
            s2,
            other,
            other_scoped,
            bits,
            pending,
            done: false,
        }
    }

    fn is_other(&self, n: Net) -> bool {
        !self.other_scoped && n == self.other
    }

    /// `other.subnet_of(n)`: `n.network_address <= other.network_address` is false for
    /// equal values when only `other` has a scope id.
    fn other_within(&self, n: Net) -> bool {
        let starts_before = n.0 < self.other.0 || (n.0 == self.other.0 && !self.other_scoped);
        starts_before && broadcast(n, self.bits) >= broadcast(self.other, self.bits)
    }
}

impl Iterator for Exclude {
    type Item = Result<Net, ExcludeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.is_other(self.s1) {
            self.done = true;
            return Some(Ok(self.s2));
        }
        if self.is_other(self.s2) {
            self.done = true;
            return Some(Ok(self.s1));
        }
        let (out, split) = if self.other_within(self.s1) {
            (self.s2, self.s1)
        } else if self.other_within(self.s2) {
            (self.s1, self.s2)
        } else {
            self.done = true;
            return Some(Err(ExcludeError::Assertion(self.s1, self.s2)));
        };
        match halves(split, self.bits) {
            Ok((a, b)) => {
                self.s1 = a;
                self.s2 = b;
            }
            Err(e) => self.pending = Some(e),
        }
        Some(Ok(out))
    }
}

/// Why `subnets()` / `supernet()` refused their arguments (`ValueError` messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixArgError {
    MustBeLonger,
    MustBeShorter,
    BothSet,
    DiffNegative,
    /// `'prefix length diff %d is invalid for netblock %s'` with the new prefix length.
    DiffInvalid(i128),
    /// `'current prefixlen is %d, cannot have a prefixlen_diff of %d'`.
    SupernetTooFar(u8, i128),
    /// `int << negative`.
    NegativeShift,
}

impl PrefixArgError {
    /// The message; `this` is `str(self)` of the network.
    pub fn message(&self, this: &str) -> String {
        match self {
            PrefixArgError::MustBeLonger => "new prefix must be longer".to_owned(),
            PrefixArgError::MustBeShorter => "new prefix must be shorter".to_owned(),
            PrefixArgError::BothSet => "cannot set prefixlen_diff and new_prefix".to_owned(),
            PrefixArgError::DiffNegative => "prefix length diff must be > 0".to_owned(),
            PrefixArgError::DiffInvalid(p) => {
                format!("prefix length diff {p} is invalid for netblock {this}")
            }
            PrefixArgError::SupernetTooFar(p, d) => {
                format!("current prefixlen is {p}, cannot have a prefixlen_diff of {d}")
            }
            PrefixArgError::NegativeShift => "negative shift count".to_owned(),
        }
    }
}

/// `subnets(prefixlen_diff, new_prefix)` argument checks for a network that is not a single
/// address: the new prefix length. `prefixlen_diff` is `None` for a non-int, which the
/// stdlib only gets past when `new_prefix` is set (where it is "not 1").
pub fn subnets_prefix(
    prefix: u8,
    bits: u8,
    prefixlen_diff: Option<i128>,
    new_prefix: Option<i128>,
) -> Result<u8, PrefixArgError> {
    let diff = match new_prefix {
        Some(np) => {
            if np < i128::from(prefix) {
                return Err(PrefixArgError::MustBeLonger);
            }
            if prefixlen_diff != Some(1) {
                return Err(PrefixArgError::BothSet);
            }
            np - i128::from(prefix)
        }
        None => prefixlen_diff.unwrap_or(1),
    };
    if diff < 0 {
        return Err(PrefixArgError::DiffNegative);
    }
    let new = i128::from(prefix).saturating_add(diff);
    if new > i128::from(bits) {
        return Err(PrefixArgError::DiffInvalid(new));
    }
    Ok(new as u8)
}

/// The networks `subnets()` yields: `count` networks of `new_prefix` from `net`.
#[derive(Debug, Clone)]
pub struct Subnets {
    next: u128,
    last: u128,
    step_shift: u8,
    new_prefix: u8,
    done: bool,
}

impl Subnets {
    pub fn new(net: Net, new_prefix: u8, bits: u8) -> Self {
        let step_shift = bits - new_prefix;
        let last = broadcast(net, bits) & !hostmask(new_prefix, bits);
        Subnets {
            next: net.0,
            last,
            step_shift,
            new_prefix,
            done: false,
        }
    }

    /// How many networks are left (saturating).
    pub fn remaining(&self) -> u128 {
        if self.done {
            0
        } else if self.step_shift >= 128 {
            1
        } else {
            ((self.last - self.next) >> self.step_shift).saturating_add(1)
        }
    }
}

impl Iterator for Subnets {
    type Item = Net;
    fn next(&mut self) -> Option<Net> {
        if self.done {
            return None;
        }
        let cur = self.next;
        if cur >= self.last {
            self.done = true;
        } else {
            self.next = cur + (1u128 << self.step_shift);
        }
        Some((cur, self.new_prefix))
    }
}

/// `supernet(prefixlen_diff, new_prefix)` for a network whose prefix is not 0
/// (`prefixlen_diff` as for [`subnets_prefix`]).
pub fn supernet_of_net(
    net: Net,
    bits: u8,
    prefixlen_diff: Option<i128>,
    new_prefix: Option<i128>,
) -> Result<Net, PrefixArgError> {
    let diff = match new_prefix {
        Some(np) => {
            if np > i128::from(net.1) {
                return Err(PrefixArgError::MustBeShorter);
            }
            if prefixlen_diff != Some(1) {
                return Err(PrefixArgError::BothSet);
            }
            i128::from(net.1) - np
        }
        None => prefixlen_diff.unwrap_or(1),
    };
    let new = i128::from(net.1) - diff;
    if new < 0 {
        return Err(PrefixArgError::SupernetTooFar(net.1, diff));
    }
    if diff < 0 {
        return Err(PrefixArgError::NegativeShift);
    }
    let new = new as u8;
    // int(network_address) & (int(netmask) << diff): the shifted mask keeps the top `new`
    // bits of the address.
    Ok((net.0 & netmask(new, bits), new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &[u8]) -> String {
        ascii_repr(s).unwrap_or_else(|| "<non-ascii>".to_owned())
    }

    fn v4msg(s: &str) -> String {
        match parse_v4(s.as_bytes()) {
            Ok(v) => format!("ok {v:#x}"),
            Err(e) => e.message(s.as_bytes(), &mut r),
        }
    }

    fn v6msg(s: &str) -> String {
        match parse_v6(s.as_bytes()) {
            Ok(v) => format!("ok {v:#x}"),
            Err(e) => e.message(s.as_bytes(), &mut r),
        }
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(r(b"abc"), "'abc'");
        assert_eq!(r(b"a'b"), "\"a'b\"");
        assert_eq!(r(b"a'\"b"), "'a\\'\"b'");
        assert_eq!(r(b"a\\b\t\n\r\x01\x7f"), "'a\\\\b\\t\\n\\r\\x01\\x7f'");
        assert_eq!(ascii_repr("é".as_bytes()), None);
    }

    #[test]
    fn v4_parse_and_messages() {
        assert_eq!(v4msg("1.2.3.4"), "ok 0x1020304");
        assert_eq!(v4msg("0.0.0.0"), "ok 0x0");
        assert_eq!(v4msg("255.255.255.255"), "ok 0xffffffff");
        assert_eq!(v4msg(""), "Address cannot be empty");
        assert_eq!(v4msg("1.2.3"), "Expected 4 octets in '1.2.3'");
        assert_eq!(v4msg("1.2.3.4.5"), "Expected 4 octets in '1.2.3.4.5'");
        assert_eq!(v4msg("1..3.4"), "Empty octet not permitted in '1..3.4'");
        assert_eq!(
            v4msg("1.2.3.x"),
            "Only decimal digits permitted in 'x' in '1.2.3.x'"
        );
        assert_eq!(
            v4msg("1.2.3. 4"),
            "Only decimal digits permitted in ' 4' in '1.2.3. 4'"
        );
        assert_eq!(
            v4msg("1.2.3.1234"),
            "At most 3 characters permitted in '1234' in '1.2.3.1234'"
        );
        assert_eq!(
            v4msg("1.2.3.04"),
            "Leading zeros are not permitted in '04' in '1.2.3.04'"
        );
        assert_eq!(
            v4msg("1.2.3.00"),
            "Leading zeros are not permitted in '00' in '1.2.3.00'"
        );
        assert_eq!(
            v4msg("1.2.3.256"),
            "Octet 256 (> 255) not permitted in '1.2.3.256'"
        );
        assert_eq!(
            v4msg("1.x.3.999"),
            "Only decimal digits permitted in 'x' in '1.x.3.999'"
        );
    }

    #[test]
    fn v4_fast_path_agrees_with_checked_parser() {
        let alphabet = b"0259.";
        let mut buf = Vec::new();
        // Every string of up to 8 characters over a small alphabet, plus longer samples.
        let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
        while let Some(p) = stack.pop() {
            buf.clear();
            buf.extend_from_slice(&p);
            assert_eq!(
                parse_v4_fast(&buf).ok_or(()),
                parse_v4_checked(&buf).map_err(|_| ()),
                "{:?}",
                String::from_utf8_lossy(&buf)
            );
            if p.len() < 8 {
                for &c in alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    stack.push(q);
                }
            }
        }
        for s in [
            "1.2.3.4",
            "01.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3.4.",
            "1.2.3.04",
            "0.0.0.0",
            "100.200.10.0",
            "1.2.3.1000",
        ] {
            assert_eq!(
                parse_v4_fast(s.as_bytes()).ok_or(()),
                parse_v4_checked(s.as_bytes()).map_err(|_| ()),
                "{s}"
            );
        }
    }

    #[test]
    fn v6_fast_path_agrees_with_checked_parser() {
        let alphabet = b"0:1fF";
        let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
        let mut accepted = 0usize;
        while let Some(p) = stack.pop() {
            if let Some(v) = parse_v6_fast(&p) {
                accepted += 1;
                assert_eq!(
                    parse_v6_checked(&p),
                    Ok(v),
                    "{:?}",
                    String::from_utf8_lossy(&p)
                );
            }
            if p.len() < 9 {
                for &c in alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    stack.push(q);
                }
            }
        }
        assert!(accepted > 1000);
        for s in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4::5:6:7",
            "fe80::1",
            "2001:DB8::8a2e:370:7334",
            "1:2:3:4::5:6:7:8",
            "12345::",
            "1:2:3:4:5:6:7:8:9",
            ":1::",
            "1::2::3",
            "::ffff:1.2.3.4",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            if let Some(v) = parse_v6_fast(s.as_bytes()) {
                assert_eq!(parse_v6_checked(s.as_bytes()), Ok(v), "{s}");
            }
            assert_eq!(
                parse_v6(s.as_bytes()).ok(),
                parse_v6_checked(s.as_bytes()).ok(),
                "{s}"
            );
        }
        assert_eq!(
            parse_v6_fast(b"2001:db8::8a2e:370:7334"),
            parse_v6_checked(b"2001:db8::8a2e:370:7334").ok()
        );
        assert!(parse_v6_fast(b"2001:db8::8a2e:370:7334").is_some());
    }

    #[test]
    fn v6_parse_and_messages() {
        assert_eq!(v6msg("::"), "ok 0x0");
        assert_eq!(v6msg("::1"), "ok 0x1");
        assert_eq!(v6msg("1::"), format!("ok {:#x}", 1u128 << 112));
        assert_eq!(v6msg("::ffff:1.2.3.4"), "ok 0xffff01020304");
        assert_eq!(
            v6msg("1:2:3:4:5:6:7:8"),
            "ok 0x10002000300040005000600070008"
        );
        assert_eq!(
            v6msg("1:2:3:4:5:6:1.2.3.4"),
            "ok 0x10002000300040005000601020304"
        );
        assert_eq!(
            v6msg("1:2:3:4:5:6:7::"),
            "ok 0x10002000300040005000600070000"
        );
        assert_eq!(v6msg("::2:3:4:5:6:7:8"), "ok 0x2000300040005000600070008");
        assert_eq!(v6msg("1"), "At least 3 parts expected in '1'");
        assert_eq!(v6msg("1:2"), "At least 3 parts expected in '1:2'");
        assert_eq!(
            v6msg("::1.2.3"),
            "Expected 4 octets in '1.2.3' in '::1.2.3'"
        );
        assert_eq!(
            v6msg("1:2:3:4:5:6:7:8:9"),
            "Exactly 8 parts expected without '::' in '1:2:3:4:5:6:7:8:9'"
        );
        assert_eq!(
            v6msg("1:2:3:4:5:6:7:8:9:0"),
            "At most 8 colons permitted in '1:2:3:4:5:6:7:8:9:0'"
        );
        assert_eq!(v6msg(":::"), "At most one '::' permitted in ':::'");
        assert_eq!(v6msg("1::2::3"), "At most one '::' permitted in '1::2::3'");
        assert_eq!(
            v6msg(":1::2"),
            "Leading ':' only permitted as part of '::' in ':1::2'"
        );
        assert_eq!(
            v6msg("1::2:"),
            "Trailing ':' only permitted as part of '::' in '1::2:'"
        );
        assert_eq!(
            v6msg(":1:2:3:4:5:6:7"),
            "Leading ':' only permitted as part of '::' in ':1:2:3:4:5:6:7'"
        );
        assert_eq!(
            v6msg("1:2:3:4:5:6:7:"),
            "Trailing ':' only permitted as part of '::' in '1:2:3:4:5:6:7:'"
        );
        assert_eq!(
            v6msg("1:2:3:4::5:6:7:8"),
            "Expected at most 7 other parts with '::' in '1:2:3:4::5:6:7:8'"
        );
        assert_eq!(
            v6msg("12345::"),
            "At most 4 characters permitted in '12345' in '12345::'"
        );
        assert_eq!(v6msg("g::"), "Only hex digits permitted in 'g' in 'g::'");
        assert_eq!(
            v6msg("1:2:3:4:5:6:7:1.2.3.4"),
            "Exactly 8 parts expected without '::' in '1:2:3:4:5:6:7:1.2.3.4'"
        );
    }

    #[test]
    fn scope_split() {
        assert_eq!(
            split_scope(b"fe80::1%eth0"),
            Ok((&b"fe80::1"[..], Some(&b"eth0"[..])))
        );
        assert_eq!(split_scope(b"fe80::1"), Ok((&b"fe80::1"[..], None)));
        assert_eq!(split_scope(b"fe80::1%"), Err(()));
        assert_eq!(split_scope(b"fe80::1%a%b"), Err(()));
        assert_eq!(addr6_from_str(b"::1/3"), Err(AddrStrError::Slash));
    }

    fn f4(ip: u32) -> String {
        let mut b = [0u8; V4_MAX_LEN];
        let n = format_v4(ip, &mut b);
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    fn f6(s: &str) -> String {
        let ip = parse_v6(s.as_bytes()).expect("valid");
        let mut b = [0u8; V6_MAX_LEN];
        let n = format_v6(ip, &mut b);
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    #[test]
    fn formatting() {
        assert_eq!(f4(0), "0.0.0.0");
        assert_eq!(f4(0x0102_0304), "1.2.3.4");
        assert_eq!(f4(u32::MAX), "255.255.255.255");
        assert_eq!(f6("::"), "::");
        assert_eq!(f6("::1"), "::1");
        assert_eq!(f6("1::"), "1::");
        assert_eq!(f6("::ffff:1.2.3.4"), "::ffff:102:304");
        assert_eq!(f6("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(f6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(f6("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(f6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(f6("ABCD:EF01::"), "abcd:ef01::");
        assert_eq!(
            std::str::from_utf8(&explode_v6(1)).unwrap_or(""),
            "0000:0000:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(reverse_pointer_v4("1.2.3.4"), "4.3.2.1.in-addr.arpa");
        assert_eq!(reverse_pointer_v4("1.2.3.0/24"), "0/24.3.2.1.in-addr.arpa");
        assert!(
            reverse_pointer_v6("0000:0000:0000:0000:0000:0000:0000:0001").starts_with("1.0.0.0.0.")
        );
    }

    #[test]
    fn format_specs() {
        assert_eq!(
            format_int_spec(b"#_X", 0x0102_0304, 32).as_deref(),
            Some("0X0102_0304")
        );
        assert_eq!(
            format_int_spec(b"b", 0x0102_0304, 32).as_deref(),
            Some("00000001000000100000001100000100")
        );
        assert_eq!(
            format_int_spec(b"n", 1, 128).as_deref().map(str::len),
            Some(32)
        );
        assert_eq!(format_int_spec(b"_x", 1, 32).as_deref(), Some("0000_0001"));
        assert_eq!(format_int_spec(b",b", 1, 32), None);
        assert_eq!(format_int_spec(b"_#b", 1, 32), None);
        assert_eq!(format_int_spec(b"", 1, 32), None);
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_from_mask_str_v4(b"24"), Some(24));
        assert_eq!(prefix_from_mask_str_v4(b"0024"), Some(24));
        assert_eq!(prefix_from_mask_str_v4(b"33"), None);
        assert_eq!(prefix_from_mask_str_v4(b"255.255.255.0"), Some(24));
        assert_eq!(prefix_from_mask_str_v4(b"0.0.0.255"), Some(24));
        assert_eq!(prefix_from_mask_str_v4(b"0.0.0.0"), Some(0));
        assert_eq!(prefix_from_mask_str_v4(b"255.255.255.255"), Some(32));
        assert_eq!(prefix_from_mask_str_v4(b"255.0.255.0"), None);
        assert_eq!(prefix_from_mask_str_v4(b""), None);
        assert_eq!(prefix_from_mask_str_v4(b"+24"), None);
        assert_eq!(prefix_from_mask_str_v6(b"128"), Some(128));
        assert_eq!(prefix_from_mask_str_v6(b"129"), None);
        assert_eq!(prefix_from_mask_str_v6(b"99999999999999999999"), None);
        assert_eq!(prefix_from_mask_int(0, 128), Some(0));
        assert_eq!(prefix_from_mask_int(u128::MAX, 128), Some(128));
    }

    #[test]
    fn mapped_text() {
        let mut b = [0u8; V6_MAX_LEN];
        let n = format_v6_mapped(0x0102_0304, &mut b);
        assert_eq!(&b[..n], b"::ffff:1.2.3.4");
        let n = format_v6_mapped(u32::MAX, &mut b);
        assert_eq!(&b[..n], b"::ffff:255.255.255.255");
        let e = explode_v6(0xffff_0102_0304);
        assert_eq!(&e[..V6_MAPPED_HEAD], b"0000:0000:0000:0000:0000:ffff:");
    }

    #[test]
    fn summarize() {
        let got: Vec<Net> = Summarize::new(v4(192, 0, 2, 0), v4(192, 0, 2, 130), 32).collect();
        assert_eq!(
            got,
            vec![
                (v4(192, 0, 2, 0), 25),
                (v4(192, 0, 2, 128), 31),
                (v4(192, 0, 2, 130), 32)
            ]
        );
        let all: Vec<Net> = Summarize::new(0, u128::MAX, 128).collect();
        assert_eq!(all, vec![(0, 0)]);
        let all4: Vec<Net> = Summarize::new(0, 0xffff_ffff, 32).collect();
        assert_eq!(all4, vec![(0, 0)]);
        let top: Vec<Net> = Summarize::new(u128::MAX, u128::MAX, 128).collect();
        assert_eq!(top, vec![(u128::MAX, 128)]);
    }

    #[test]
    fn collapse() {
        let nets = vec![
            (v4(192, 0, 2, 0), 26),
            (v4(192, 0, 2, 64), 26),
            (v4(192, 0, 2, 128), 26),
            (v4(192, 0, 2, 192), 26),
        ];
        assert_eq!(collapse_networks(nets, 32), vec![(v4(192, 0, 2, 0), 24)]);
        let nets = vec![
            (v4(10, 0, 0, 0), 8),
            (v4(10, 1, 0, 0), 16),
            (v4(11, 0, 0, 0), 8),
        ];
        assert_eq!(collapse_networks(nets, 32), vec![(v4(10, 0, 0, 0), 7)]);
        let mut out = Vec::new();
        summarize_sorted_addresses(&[1, 2, 3, 5], 32, &mut out);
        assert_eq!(out, vec![(1, 32), (2, 31), (5, 32)]);
    }

    #[test]
    fn exclude() {
        let this = (v4(192, 0, 2, 0), 28);
        let other = (v4(192, 0, 2, 1), 32);
        let got: Vec<_> = Exclude::new(this, other, false, 32).collect();
        assert_eq!(
            got,
            vec![
                Ok((v4(192, 0, 2, 8), 29)),
                Ok((v4(192, 0, 2, 4), 30)),
                Ok((v4(192, 0, 2, 2), 31)),
                Ok((v4(192, 0, 2, 0), 32)),
            ]
        );
        // A scoped `other` never equals a half, and is never inside the half that starts at
        // its own address: the stdlib ends in its AssertionError.
        let scoped: Vec<_> = Exclude::new((0, 126), (1, 128), true, 128).collect();
        assert_eq!(
            scoped,
            vec![
                Ok((2, 127)),
                Err(ExcludeError::Assertion((0, 128), (1, 128)))
            ]
        );
        let unscoped: Vec<_> = Exclude::new((0, 127), (1, 128), false, 128).collect();
        assert_eq!(unscoped, vec![Ok((0, 128))]);
    }

    #[test]
    fn subnets_and_supernet() {
        assert_eq!(subnets_prefix(24, 32, Some(1), None), Ok(25));
        assert_eq!(
            subnets_prefix(24, 32, Some(1), Some(20)),
            Err(PrefixArgError::MustBeLonger)
        );
        assert_eq!(
            subnets_prefix(24, 32, Some(2), Some(26)),
            Err(PrefixArgError::BothSet)
        );
        assert_eq!(
            subnets_prefix(24, 32, Some(-1), None),
            Err(PrefixArgError::DiffNegative)
        );
        assert_eq!(
            subnets_prefix(24, 32, Some(9), None),
            Err(PrefixArgError::DiffInvalid(33))
        );
        let s: Vec<Net> = Subnets::new((0, 0), 2, 32).collect();
        assert_eq!(
            s,
            vec![(0, 2), (0x4000_0000, 2), (0x8000_0000, 2), (0xc000_0000, 2)]
        );
        let s: Vec<Net> = Subnets::new((0, 0), 1, 128).collect();
        assert_eq!(s, vec![(0, 1), (1u128 << 127, 1)]);
        assert_eq!(Subnets::new((0, 0), 128, 128).remaining(), u128::MAX);
        assert_eq!(
            supernet_of_net((v4(1, 2, 3, 0), 24), 32, Some(1), None),
            Ok((v4(1, 2, 2, 0), 23))
        );
        assert_eq!(
            supernet_of_net((v4(1, 2, 3, 0), 24), 32, Some(-1), None),
            Err(PrefixArgError::NegativeShift)
        );
        assert_eq!(
            supernet_of_net((v4(1, 2, 3, 0), 24), 32, Some(25), None),
            Err(PrefixArgError::SupernetTooFar(24, 25))
        );
        assert_eq!(
            supernet_of_net((v4(1, 2, 3, 0), 24), 32, Some(1), Some(25)),
            Err(PrefixArgError::MustBeShorter)
        );
    }
}
