"""Ports of well-known services and back (getservbyname / getservbyport).

Seed 002 (cnblogs "python中的网络通信", Chinese), section 查找服务信息.
One change: port 666 ('doom' in the seed's output) is missing from many systems' services
database (Debian's netbase no longer lists it), where getservbyport() raises OSError; the
example prints that error instead of dying on the last line.
Run: python examples/lookup_service.py
"""

import ferrosock as socket

# 可以使用getservbyname方法查找网络服务的端口号和标准名
print(socket.getservbyname("http"))  # 80
print(socket.getservbyname("https"))  # 443
print(socket.getservbyname("ftp"))  # 21
print(socket.getservbyname("smtp"))  # 25

# 也可以使用getservbyport根据端口号查找协议
print(socket.getservbyport(80))  # http
try:
    print(socket.getservbyport(666))  # doom
except OSError as e:
    print(e)
