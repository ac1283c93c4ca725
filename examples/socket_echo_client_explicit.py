"""TCP echo client connecting to the server named on the command line.

Seed 000 (PyMOTW "socket", Chinese), section 选择监听地址 (socket_echo_client_explicit.py).
Run: python examples/socket_echo_client_explicit.py NAME [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("server_name", help="host name or address of the server")
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Connect the socket to the port on the server
# given by the caller
server_address = (args.server_name, args.port)
print("connecting to {} port {}".format(*server_address))
sock.connect(server_address)

try:
    message = b"This is the message.  It will be repeated."
    print("sending {!r}".format(message))
    sock.sendall(message)

    amount_received = 0
    amount_expected = len(message)
    while amount_received < amount_expected:
        data = sock.recv(16)
        amount_received += len(data)
        print("received {!r}".format(data))

finally:
    sock.close()
