"""Client that sends an int, a 2-byte string and a float packed with struct.Struct('I 2s f').

Seed 000 (PyMOTW "socket", Chinese), section 发送二进制数据 (socket_binary_client.py).
Talks to socket_binary_server.py.
Run: python examples/socket_binary_client.py [--port 10000]
"""

import argparse
import binascii

import ferrosock as socket
from ferrosock import struct

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_address = ("localhost", args.port)
sock.connect(server_address)

values = (1, b"ab", 2.7)
packer = struct.Struct("I 2s f")
packed_data = packer.pack(*values)

print("values =", values)

try:
    # Send data
    print("sending {!r}".format(binascii.hexlify(packed_data)))
    sock.sendall(packed_data)
finally:
    print("closing socket")
    sock.close()
