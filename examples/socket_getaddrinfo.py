"""Every way to reach a service, from getaddrinfo(), with the constants' names.

Seed 000 (PyMOTW "socket", Chinese), section 查找服务器地址 (getaddrinfo).
The seed resolves 'www.python.org'; offline, the default host is 'localhost'.
Run: python examples/socket_getaddrinfo.py [HOST]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("host", nargs="?", default="localhost")
args = parser.parse_args()


def get_constants(prefix):
    """Create a dictionary mapping socket module constants to
    their names.
    """
    return {getattr(socket, n): n for n in dir(socket) if n.startswith(prefix)}


families = get_constants("AF_")
types = get_constants("SOCK_")
protocols = get_constants("IPPROTO_")

for response in socket.getaddrinfo(args.host, "http"):
    # Unpack the response tuple
    family, socktype, proto, canonname, sockaddr = response

    print("Family        :", families[family])
    print("Type          :", types[socktype])
    print("Protocol      :", protocols[proto])
    print("Canonical name:", canonname)
    print("Socket address:", sockaddr)
    print()
