//! Socket addresses as the kernel fills them (`makesockaddr`), and numeric host names
//! (`setipaddr` before the resolver).
//!
//! Input: bytes 0..2 the address length the kernel reports (may exceed the storage), then
//! the `sockaddr_storage` bytes (zero-filled past the input).
//! - `decode` never reads past the storage or the reported length: the slices it returns
//!   lie inside the first `len` bytes (`sa_data` inside the storage);
//! - an `AF_INET`/`AF_INET6` address decodes to glibc's `inet_ntop` text of its bytes and
//!   to the port, flow info and scope id stored in it;
//! - `numeric_host` of the text after the storage agrees with glibc's `inet_pton` of the
//!   socket's family, for `AF_INET`, `AF_INET6` and others.
#![no_main]

use std::mem::size_of;

use _native::fuzzing::sockaddr::{decode, numeric_host, raw_bytes, Decoded, HostError, IpBytes};
use fuzzkit::{glibc_ntop4, glibc_ntop6, glibc_pton4, glibc_pton6};
use libfuzzer_sys::fuzz_target;

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let len = libc::socklen_t::from(u16::from_le_bytes([data[0], data[1]]));
    let body = &data[2..];
    let cap = size_of::<libc::sockaddr_storage>();
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = body.len().min(cap);
    // SAFETY: `n` bytes fit in the storage, which is a live, exclusively borrowed value.
    unsafe {
        std::ptr::copy_nonoverlapping(
            body.as_ptr(),
            (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
            n,
        );
    }
    let all = raw_bytes(&storage, cap as libc::socklen_t);
    let used = raw_bytes(&storage, len);
    assert_eq!(used.len(), (len as usize).min(cap));
    match decode(&storage, len) {
        Decoded::None => assert_eq!(len, 0),
        Decoded::V4 { host, port } => {
            assert_eq!(i32::from(storage.ss_family), libc::AF_INET);
            assert!(used.len() >= size_of::<libc::sockaddr_in>());
            assert_eq!(host, glibc_ntop4(&all[4..8].try_into().unwrap()));
            assert_eq!(port, u16::from_be_bytes([all[2], all[3]]));
        }
        Decoded::V6 {
            host,
            port,
            flowinfo,
            scope_id,
        } => {
            assert_eq!(i32::from(storage.ss_family), libc::AF_INET6);
            assert!(used.len() >= size_of::<libc::sockaddr_in6>());
            assert_eq!(host, glibc_ntop6(&all[8..24].try_into().unwrap()));
            assert_eq!(port, u16::from_be_bytes([all[2], all[3]]));
            assert_eq!(flowinfo, u32::from_be_bytes(all[4..8].try_into().unwrap()));
            assert_eq!(
                scope_id,
                u32::from_ne_bytes(all[24..28].try_into().unwrap())
            );
        }
        Decoded::UnixPath(p) => {
            assert_eq!(i32::from(storage.ss_family), libc::AF_UNIX);
            assert!(within(used, p) && !p.contains(&0));
        }
        Decoded::UnixAbstract(p) => {
            assert_eq!(i32::from(storage.ss_family), libc::AF_UNIX);
            assert!(within(used, p) && p.first() == Some(&0));
        }
        Decoded::Other { family, data } => {
            assert_eq!(family, i32::from(storage.ss_family));
            assert!(within(all, data) && data.len() == 14);
        }
    }

    let name = body.get(cap..).unwrap_or_default();
    for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
        let got = numeric_host(name, family);
        if name.is_empty() {
            assert!(matches!(got, Ok(IpBytes::V4(_)) | Ok(IpBytes::V6(_))));
            continue;
        }
        if name == b"255.255.255.255" || name == b"<broadcast>" {
            assert_eq!(got.is_ok(), family == libc::AF_INET);
            continue;
        }
        match (family, &got) {
            (libc::AF_INET, _) => {
                if let Some(glibc) = glibc_pton4(name) {
                    assert_eq!(got.ok(), glibc.map(IpBytes::V4));
                }
            }
            (libc::AF_INET6, _) if !name.contains(&b'%') => {
                if let Some(glibc) = glibc_pton6(name) {
                    assert_eq!(got.ok(), glibc.map(IpBytes::V6));
                }
            }
            _ => assert_eq!(got, Err(HostError::NeedsLookup)),
        }
    }
});
