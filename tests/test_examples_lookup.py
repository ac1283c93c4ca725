"""Name, service and protocol lookups and address packing (seeds 000 and 002).

The expected output is computed here with the stdlib on this machine (its resolver, its
/etc/services), so the checks hold offline and on any host; the fixed parts (the seed's
formats, the packed addresses) are spelled out literally. The seeds' text collapses runs of
spaces; the formats here are the original programs' (PyMOTW aligns its labels).
"""

from __future__ import annotations

import socket

import pytest

from tests.example_runner import IMPLS, check_lines, run

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]

HOST = socket.gethostname()


def test_gethostname(impl: str) -> None:
    check_lines(run("socket_gethostname", impl=impl), [HOST])


def test_gethostbyname(impl: str) -> None:
    err = _error(socket.gethostbyname, "nosuchname")
    assert isinstance(err, socket.gaierror)
    check_lines(
        run("socket_gethostbyname", impl=impl),
        [
            f"{HOST} : {socket.gethostbyname(HOST)}",
            "localhost : 127.0.0.1",
            f"nosuchname : {err}",
        ],
    )


def test_gethostbyname_explicit_names(impl: str) -> None:
    check_lines(
        run("socket_gethostbyname", "127.0.0.1", "nosuchname", impl=impl),
        ["127.0.0.1 : 127.0.0.1", f"nosuchname : {_error(socket.gethostbyname, 'nosuchname')}"],
    )


def test_gethostbyname_ex(impl: str) -> None:
    expected: list[str] = []
    for host in (HOST, "localhost"):
        name, aliases, addresses = socket.gethostbyname_ex(host)
        expected += [host, f"  Hostname: {name}", f"  Aliases : {aliases}"]
        expected += [f" Addresses: {addresses}", ""]
    assert "127.0.0.1" in socket.gethostbyname_ex("localhost")[2]
    expected += ["nosuchname", f"ERROR: {_error(socket.gethostbyname_ex, 'nosuchname')}", ""]
    check_lines(run("socket_gethostbyname_ex", impl=impl), expected)


def test_getfqdn(impl: str) -> None:
    check_lines(
        run("socket_getfqdn", impl=impl),
        [f"{h:>10} : {socket.getfqdn(h)}" for h in (HOST, "localhost")],
    )


def test_gethostbyaddr(impl: str) -> None:
    hostname, aliases, addresses = socket.gethostbyaddr("127.0.0.1")
    assert addresses == ["127.0.0.1"]
    check_lines(
        run("socket_gethostbyaddr", impl=impl),
        [f"Hostname : {hostname}", f"Aliases  : {aliases}", "Addresses: ['127.0.0.1']"],
    )


def test_getservbyname(impl: str) -> None:
    schemes = ["http", "https", "ftp", "gopher", "smtp", "imap", "imaps", "pop3", "pop3s"]
    expected = [f"{s:>6} : {socket.getservbyname(s)}" for s in schemes]
    assert expected[:3] == ["  http : 80", " https : 443", "   ftp : 21"]
    check_lines(run("socket_getservbyname", impl=impl), expected)


def test_getservbyport(impl: str) -> None:
    ports = [80, 443, 21, 70, 25, 143, 993, 110, 995]
    expected = [f"{socket.getservbyport(p)}://example.com/" for p in ports]
    assert expected[:2] == ["http://example.com/", "https://example.com/"]
    check_lines(run("socket_getservbyport", impl=impl), expected)


def test_getprotobyname(impl: str) -> None:
    check_lines(
        run("socket_getprotobyname", impl=impl),
        [
            "icmp ->  1 (socket.IPPROTO_ICMP =  1)",
            " udp -> 17 (socket.IPPROTO_UDP  = 17)",
            " tcp ->  6 (socket.IPPROTO_TCP  =  6)",
        ],
    )


def _names(prefix: str) -> dict[int, str]:
    return {getattr(socket, n): n for n in dir(socket) if n.startswith(prefix)}


def _addrinfo_block(family: int, socktype: int, proto: int, canon: str, sa: tuple) -> list[str]:
    return [
        f"Family        : {_names('AF_')[family]}",
        f"Type          : {_names('SOCK_')[socktype]}",
        f"Protocol      : {_names('IPPROTO_')[proto]}",
        f"Canonical name: {canon}",
        f"Socket address: {sa}",
        "",
    ]


def test_getaddrinfo(impl: str) -> None:
    infos = socket.getaddrinfo("localhost", "http")
    assert ("127.0.0.1", 80) in [sa for *_, sa in infos]
    expected = [line for info in infos for line in _addrinfo_block(*info)]
    check_lines(run("socket_getaddrinfo", impl=impl), expected)


def test_getaddrinfo_extra_args(impl: str) -> None:
    check_lines(
        run("socket_getaddrinfo_extra_args", impl=impl),
        [
            "Family        : AF_INET",
            "Type          : SOCK_STREAM",
            "Protocol      : IPPROTO_TCP",
            "Canonical name: localhost",
            "Socket address: ('127.0.0.1', 80)",
            "",
        ],
    )


def test_address_packing(impl: str) -> None:
    check_lines(
        run("socket_address_packing", impl=impl),
        [
            "Original: 192.168.1.1",
            "Packed  : b'c0a80101'",
            "Unpacked: 192.168.1.1",
            "",
            "Original: 127.0.0.1",
            "Packed  : b'7f000001'",
            "Unpacked: 127.0.0.1",
            "",
        ],
    )


def test_ipv6_address_packing(impl: str) -> None:
    check_lines(
        run("socket_ipv6_address_packing", impl=impl),
        [
            "Original: 2002:ac10:10a:1234:21e:52ff:fe74:40e",
            "Packed  : b'2002ac10010a1234021e52fffe74040e'",
            "Unpacked: 2002:ac10:10a:1234:21e:52ff:fe74:40e",
        ],
    )


def test_lookup_host(impl: str) -> None:
    name, aliases, addresses = socket.gethostbyname_ex("localhost")
    check_lines(
        run("lookup_host", impl=impl),
        [
            HOST,
            socket.gethostbyname(HOST),
            "127.0.0.1",
            name,
            str(aliases),
            str(addresses),
        ],
    )


def test_lookup_service(impl: str) -> None:
    doom = _error(socket.getservbyport, 666)
    check_lines(
        run("lookup_service", impl=impl),
        ["80", "443", "21", "25", "http", str(doom) if doom else socket.getservbyport(666)],
    )


def test_lookup_getaddrinfo(impl: str) -> None:
    infos = socket.getaddrinfo("localhost", "https")
    assert any(sa == ("127.0.0.1", 443) for *_, sa in infos)
    check_lines(run("lookup_getaddrinfo", impl=impl), [str(infos)])


def _error(func, *args) -> OSError | None:
    try:
        func(*args)
    except OSError as e:
        return e
    return None
