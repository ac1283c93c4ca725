"""Convert host names to IPv4 addresses with gethostbyname(); a failing name prints its error.

Seed 000 (PyMOTW "socket", Chinese), section 在网络上查找主机 (gethostbyname).
The seed looks up its author's host 'apu', 'pymotw.com' and 'www.python.org'; this machine is
offline, so the default list uses names that resolve without a network (this host's own name,
'localhost') and keeps the seed's 'nosuchname' error case. Pass other names as arguments.
Run: python examples/socket_gethostbyname.py [HOST ...]
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
    try:
        print("{} : {}".format(host, socket.gethostbyname(host)))
    except socket.error as msg:
        print("{} : {}".format(host, msg))
