"""Canonical name, aliases and every address of a host with gethostbyname_ex().

Seed 000 (PyMOTW "socket", Chinese), section 在网络上查找主机 (gethostbyname_ex).
Offline-safe default names as in socket_gethostbyname.py; the 'nosuchname' error case is kept.
Run: python examples/socket_gethostbyname_ex.py [HOST ...]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("hosts", nargs="*", help="names to look up (default: offline-safe list)")
args = parser.parse_args()

HOSTS = args.hosts or [
    socket.gethostname(),
    "localhost",
    "nosuchname",
]

for host in HOSTS:
    print(host)
    try:
        name, aliases, addresses = socket.gethostbyname_ex(host)
        print("  Hostname:", name)
        print("  Aliases :", aliases)
        print(" Addresses:", addresses)
    except socket.error as msg:
        print("ERROR:", msg)
    print()
