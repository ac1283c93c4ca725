"""An IPv6 address to its 16-byte packed form and back (inet_pton / inet_ntop).

Seed 000 (PyMOTW "socket", Chinese), section IP 地址表示 (inet_pton, inet_ntop).
(The seed also imports struct and sys without using them; those imports are dropped.)
Run: python examples/socket_ipv6_address_packing.py
"""

import binascii

import ferrosock as socket

string_address = "2002:ac10:10a:1234:21e:52ff:fe74:40e"
packed = socket.inet_pton(socket.AF_INET6, string_address)

print("Original:", string_address)
print("Packed  :", binascii.hexlify(packed))
print("Unpacked:", socket.inet_ntop(socket.AF_INET6, packed))
