"""Echo client from the socket docs that tries every address getaddrinfo() returns
(IPv4 or IPv6) until one connects.

Seed 003 (Python docs "socket", Russian translation), section Примеры, fourth example
(the IPv4/IPv6 echo client). The docs connect to 'daring.cwi.nl'; the default here is
'localhost'. Use --host ::1 for IPv6 loopback.
Run: python examples/docs_echo_client_dualstack.py [--host localhost] [--port 50007]
"""

import argparse
import sys

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="localhost")
parser.add_argument("--port", type=int, default=50007)
args = parser.parse_args()

HOST = args.host  # The remote host
PORT = args.port  # The same port as used by the server
s = None
for res in socket.getaddrinfo(HOST, PORT, socket.AF_UNSPEC, socket.SOCK_STREAM):
    af, socktype, proto, canonname, sa = res
    try:
        s = socket.socket(af, socktype, proto)
    except OSError:
        s = None
        continue
    try:
        s.connect(sa)
    except OSError:
        s.close()
        s = None
        continue
    break
if s is None:
    print("could not open socket")
    sys.exit(1)
with s:
    s.sendall(b"Hello, world")
    data = s.recv(1024)
print("Received", repr(data))
