"""Turn partial names into fully qualified domain names with getfqdn().

Seed 000 (PyMOTW "socket", Chinese), section 在网络上查找主机 (getfqdn).
The seed uses ['apu', 'pymotw.com']; offline, the defaults are this host's name and 'localhost'.
Run: python examples/socket_getfqdn.py [HOST ...]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("hosts", nargs="*", help="names to qualify (default: offline-safe list)")
args = parser.parse_args()

for host in args.hosts or [socket.gethostname(), "localhost"]:
    print("{:>10} : {}".format(host, socket.getfqdn(host)))
