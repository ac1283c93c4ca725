"""Echo server from the socket docs that listens on the first address getaddrinfo() offers
(IPv4 or IPv6), serving one client.

Seed 003 (Python docs "socket", Russian translation), section Примеры, third example
(the IPv4/IPv6 echo server). The docs pass HOST = None with AI_PASSIVE (the wildcard
address); by the examples' loopback-only rule the default here is 'localhost'. Use
--host ::1 for IPv6 loopback, or --host '' for the docs' wildcard.
Run: python examples/docs_echo_server_dualstack.py [--host localhost] [--port 50007]
"""

import argparse
import sys

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="localhost", help="'' means None: every interface")
parser.add_argument("--port", type=int, default=50007)
args = parser.parse_args()

HOST = args.host or None  # Symbolic name meaning all available interfaces
PORT = args.port  # Arbitrary non-privileged port
s = None
for res in socket.getaddrinfo(
    HOST, PORT, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
):
    af, socktype, proto, canonname, sa = res
    try:
        s = socket.socket(af, socktype, proto)
    except OSError:
        s = None
        continue
    try:
        s.bind(sa)
        s.listen(1)
    except OSError:
        s.close()
        s = None
        continue
    break
if s is None:
    print("could not open socket")
    sys.exit(1)
conn, addr = s.accept()
with conn:
    print("Connected by", addr)
    while True:
        data = conn.recv(1024)
        if not data:
            break
        conn.send(data)
