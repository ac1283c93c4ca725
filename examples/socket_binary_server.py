"""Server that unpacks what socket_binary_client.py sends with the same struct.Struct.

Seed 000 (PyMOTW "socket", Chinese), section 发送二进制数据 (socket_binary_server.py).
Runs until stopped (Ctrl-C).
Run: python examples/socket_binary_server.py [--port 10000]
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
sock.bind(server_address)
sock.listen(1)

unpacker = struct.Struct("I 2s f")

while True:
    print("\nwaiting for a connection")
    connection, client_address = sock.accept()
    try:
        data = connection.recv(unpacker.size)
        print("received {!r}".format(binascii.hexlify(data)))

        unpacked_data = unpacker.unpack(data)
        print("unpacked:", unpacked_data)

    finally:
        connection.close()
