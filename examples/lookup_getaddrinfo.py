"""The raw getaddrinfo() list for a site's https service.

Seed 002 (cnblogs "python中的网络通信", Chinese), section 查找服务器地址.
The seed resolves 'www.baidu.com'; offline, the default is 'localhost'.
Run: python examples/lookup_getaddrinfo.py [SITE]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("site", nargs="?", default="localhost")
args = parser.parse_args()

res = socket.getaddrinfo(args.site, "https")
print(res)
