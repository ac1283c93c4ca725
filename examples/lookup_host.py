"""This host's name and address, and the address(es) of a named site.

Seed 002 (cnblogs "python中的网络通信", Chinese), section 在网络上查找主机.
The seed resolves 'www.baidu.com'; this machine is offline, so the default site is 'localhost'
(pass another name as the argument on a connected machine).
Run: python examples/lookup_host.py [SITE]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("site", nargs="?", default="localhost")
args = parser.parse_args()

# 要查找当前主机的正式名,可以使用gethostname函数
print(socket.gethostname())

# 还可以使用gethostbyname函数根据主机名获取ip地址
print(socket.gethostbyname(socket.gethostname()))

# 我们也可以根据url找到对应网站的ip
print(socket.gethostbyname(args.site))

# 如果想访问更多的信息,可以使用这个函数
name, aliases, addressed = socket.gethostbyname_ex(args.site)
print(name)
print(aliases)
print(addressed)
