"""IPv4 addresses to their 4-byte packed form and back (inet_aton / inet_ntoa).

Seed 000 (PyMOTW "socket", Chinese), section IP 地址表示 (inet_aton, inet_ntoa).
(The seed also imports struct and sys without using them; those imports are dropped.)
Run: python examples/socket_address_packing.py
"""

import binascii

import ferrosock as socket

for string_address in ["192.168.1.1", "127.0.0.1"]:
    packed = socket.inet_aton(string_address)
    print("Original:", string_address)
    print("Packed  :", binascii.hexlify(packed))
    print("Unpacked:", socket.inet_ntoa(packed))
    print()
