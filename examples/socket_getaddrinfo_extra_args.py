"""getaddrinfo() filtered by family, type and protocol, with AI_CANONNAME.

Seed 000 (PyMOTW "socket", Chinese), section 查找服务器地址 (getaddrinfo with filters).
The seed resolves 'www.python.org'; offline, the default host is 'localhost'.
Run: python examples/socket_getaddrinfo_extra_args.py [HOST]
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

responses = socket.getaddrinfo(
    host=args.host,
    port="http",
    family=socket.AF_INET,
    type=socket.SOCK_STREAM,
    proto=socket.IPPROTO_TCP,
    flags=socket.AI_CANONNAME,
)

for response in responses:
    # Unpack the response tuple
    family, socktype, proto, canonname, sockaddr = response

    print("Family        :", families[family])
    print("Type          :", types[socktype])
    print("Protocol      :", protocols[proto])
    print("Canonical name:", canonname)
    print("Socket address:", sockaddr)
    print()
