"""UDP echo server: sends every datagram back to whoever sent it.

Seed 000 (PyMOTW "socket", Chinese), section 用户数据报客户端和服务端 / 服务端
(socket_echo_server_dgram.py). Runs until stopped (Ctrl-C).
Run: python examples/socket_echo_server_dgram.py [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a UDP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

# Bind the socket to the port
server_address = ("localhost", args.port)
print("starting up on {} port {}".format(*server_address))
sock.bind(server_address)

while True:
    print("\nwaiting to receive message")
    data, address = sock.recvfrom(4096)

    print("received {} bytes from {}".format(len(data), address))
    print(data)

    if data:
        sent = sock.sendto(data, address)
        print("sent {} bytes back to {}".format(sent, address))
