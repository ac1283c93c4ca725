//! The data of the native classes: the six `ipaddress` classes and the address iterator,
//! as `#[pyclass]` structs that keep only the numbers (and an IPv6 scope id). Their Python
//! methods live in the layers above (`objects`, `iters`); here are the layouts that every
//! layer reads, and the plain Rust helpers on them.

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::core::{self, V4_BITS, V6_BITS};

/// `ipaddress.IPv4Address`: one IPv4 address, built from an int, 4 packed bytes or a
/// dotted-quad string (no leading zeros), with the stdlib's properties and operators.
#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock.ipaddress",
    name = "IPv4Address"
)]
pub struct IPv4Address {
    pub(crate) ip: u32,
}

#[pyclass(frozen, extends = IPv4Address, subclass, module = "ferrosock.ipaddress", name = "IPv4Interface")]
pub struct IPv4Interface {
    pub(crate) prefix: u8,
}

/// `ipaddress.IPv6Address`: one IPv6 address, built from an int, 16 packed bytes or text
/// (with an optional `%scope` id), with the stdlib's properties and operators.
#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock.ipaddress",
    name = "IPv6Address"
)]
pub struct IPv6Address {
    pub(crate) ip: u128,
    pub(crate) scope: Option<Py<PyString>>,
}

#[pyclass(frozen, extends = IPv6Address, subclass, module = "ferrosock.ipaddress", name = "IPv6Interface")]
pub struct IPv6Interface {
    pub(crate) prefix: u8,
}

/// `ipaddress.IPv4Network`: an IPv4 network (`'192.0.2.0/24'`, `'192.0.2.0/255.255.255.0'`,
/// `'192.0.2.0/0.0.0.255'`, `(addr, prefix)`), with membership, iteration, indexing and the
/// stdlib's network methods. `contains_many()` is ferrosock's batch form of `in`.
#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock.ipaddress",
    name = "IPv4Network"
)]
pub struct IPv4Network {
    pub(crate) net: u32,
    pub(crate) prefix: u8,
}

impl IPv4Network {
    pub fn contains_ip(&self, ip: u32) -> bool {
        // The network address has no host bits, so comparing the bits above them is enough.
        let host_bits = u32::from(V4_BITS - self.prefix);
        ip.checked_shr(host_bits).unwrap_or(0) == self.net.checked_shr(host_bits).unwrap_or(0)
    }

    /// The network and broadcast address values.
    pub(super) fn ends(&self) -> (u32, u32) {
        (
            self.net,
            self.net | core::hostmask(self.prefix, V4_BITS) as u32,
        )
    }
}

/// `ipaddress.IPv6Network`: an IPv6 network (`'2001:db8::/32'`, `(addr, prefix)`; the
/// network address may carry a scope id, as in the stdlib), with membership, iteration,
/// indexing and the stdlib's network methods. `contains_many()` is the batch form of `in`.
#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock.ipaddress",
    name = "IPv6Network"
)]
pub struct IPv6Network {
    pub(crate) net: u128,
    pub(crate) prefix: u8,
    pub(crate) scope: Option<Py<PyString>>,
}

impl IPv6Network {
    /// `ip in self` for an address value.
    #[inline]
    pub fn contains_ip(&self, ip: u128) -> bool {
        let host_bits = u32::from(V6_BITS - self.prefix);
        ip.checked_shr(host_bits).unwrap_or(0) == self.net.checked_shr(host_bits).unwrap_or(0)
    }

    /// The network and broadcast address values.
    pub(super) fn ends(&self) -> (u128, u128) {
        (self.net, self.net | core::hostmask(self.prefix, V6_BITS))
    }
}

/// Addresses `first..=last` as `IPv4Address`/`IPv6Address` objects.
#[pyclass(module = "ferrosock.ipaddress", name = "_AddressIterator")]
pub struct AddressIterator {
    next: u128,
    /// How many addresses follow `next` (a count, not the last value: `::/0` has 2**128).
    pub(super) after: u128,
    pub(super) done: bool,
    pub(super) v6: bool,
}

impl AddressIterator {
    pub fn new(v6: bool, first: u128, last: u128) -> Self {
        AddressIterator {
            next: first,
            after: last.wrapping_sub(first),
            done: first > last,
            v6,
        }
    }

    /// The next address value, if any.
    #[inline]
    pub fn step(&mut self) -> Option<u128> {
        if self.done {
            return None;
        }
        // NOTE: one u128 compared with zero, not two compared with each other: that
        // compiled to a 16-byte load of the two 8-byte halves just stored by the previous
        // step, which cannot be store-forwarded and stalled every call.
        let cur = self.next;
        if self.after == 0 {
            self.done = true;
        } else {
            self.after -= 1;
            self.next = cur + 1;
        }
        Some(cur)
    }

    pub fn is_v6(&self) -> bool {
        self.v6
    }
}
