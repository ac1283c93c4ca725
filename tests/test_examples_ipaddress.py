"""The `ipaddress.ip_address` example (seed 002) on `ferrosock.ipaddress`."""

from __future__ import annotations

import ipaddress

import pytest

from tests.example_runner import IMPLS, check_lines, run

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]


def test_seed_address(impl: str) -> None:
    check_lines(
        run("ipaddress_ip_address", impl=impl),
        [
            "61.135.169.125",
            "ip version: 4",
            "is private: False",
            "packed form: b'3d87a97d'",
            "integer: 1032300925",
        ],
    )


@pytest.mark.parametrize("address", ["10.1.2.3", "::1", "2002:ac10:10a:1234:21e:52ff:fe74:40e"])
def test_other_addresses(impl: str, address: str) -> None:
    a = ipaddress.ip_address(address)
    check_lines(
        run("ipaddress_ip_address", address, impl=impl),
        [
            str(a),
            f"ip version: {a.version}",
            f"is private: {a.is_private}",
            f"packed form: {a.packed.hex().encode()!r}",
            f"integer: {int(a)}",
        ],
    )


def test_invalid_address(impl: str) -> None:
    """Not an address: ip_address() raises ValueError with the stdlib's message."""
    err: list[str] = []
    assert run("ipaddress_ip_address", "not-an-ip", impl=impl, returncode=1, stderr_sink=err) == ""
    assert err[0].splitlines()[-1] == (
        "ValueError: 'not-an-ip' does not appear to be an IPv4 or IPv6 address"
    )
