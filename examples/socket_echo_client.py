"""TCP echo client: sends one message and reads the echo back 16 bytes at a time.

Seed 000 (PyMOTW "socket", Chinese), section TCP/IP 客户端和服务端 / 客户端
(socket_echo_client.py). Talks to socket_echo_server.py (or any echo server on the port).
Run: python examples/socket_echo_client.py [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Connect the socket to the port where the server is listening
server_address = ("localhost", args.port)
print("connecting to {} port {}".format(*server_address))
sock.connect(server_address)

try:
    # Send data
    message = b"This is the message.  It will be repeated."
    print("sending {!r}".format(message))
    sock.sendall(message)

    # Look for the response
    amount_received = 0
    amount_expected = len(message)

    while amount_received < amount_expected:
        data = sock.recv(16)
        amount_received += len(data)
        print("received {!r}".format(data))

finally:
    print("closing socket")
    sock.close()
