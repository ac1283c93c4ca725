"""An address object from ipaddress.ip_address(): version, is_private, packed form, integer.

Seed 002 (cnblogs "python中的网络通信", Chinese), section ipaddress. Pure computation: no
network is needed. Pass another address (IPv4 or IPv6) as the argument.
Run: python examples/ipaddress_ip_address.py [ADDRESS]
"""

import argparse
import binascii

from ferrosock import ipaddress

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("address", nargs="?", default="61.135.169.125")
args = parser.parse_args()

# 可以像ip_address函数传入一个字符串,整数或者字节序列来构造一个地址。
# 返回值是一个IPv4Address或IPv6Address实例,这取决于使用什么类型的地址
address = args.address
addr = ipaddress.ip_address(address)
print(addr)
print(f"ip version: {addr.version}")
print(f"is private: {addr.is_private}")
print(f"packed form: {binascii.hexlify(addr.packed)}")
print(f"integer: {int(addr)}")
