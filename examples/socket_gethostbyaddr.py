"""Reverse lookup of an address with gethostbyaddr().

Seed 000 (PyMOTW "socket", Chinese), section 在网络上查找主机 (gethostbyaddr).
The seed looks up its LAN address '10.9.0.10'; the default here is the loopback address,
which resolves offline.
Run: python examples/socket_gethostbyaddr.py [ADDRESS]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("address", nargs="?", default="127.0.0.1")
args = parser.parse_args()

hostname, aliases, addresses = socket.gethostbyaddr(args.address)

print("Hostname :", hostname)
print("Aliases  :", aliases)
print("Addresses:", addresses)
