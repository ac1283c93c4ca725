"""UDP echo client: one datagram out, one back.

Seed 000 (PyMOTW "socket", Chinese), section 用户数据报客户端和服务端 / 客户端
(socket_echo_client_dgram.py). Talks to socket_echo_server_dgram.py.
Run: python examples/socket_echo_client_dgram.py [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a UDP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

server_address = ("localhost", args.port)
message = b"This is the message.  It will be repeated."

try:
    # Send data
    print("sending {!r}".format(message))
    sent = sock.sendto(message, server_address)

    # Receive response
    print("waiting to receive")
    data, server = sock.recvfrom(4096)
    print("received {!r}".format(data))

finally:
    print("closing socket")
    sock.close()
