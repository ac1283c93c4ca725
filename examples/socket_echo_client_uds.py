"""Unix-domain stream echo client; prints the error and exits 1 if it cannot connect
(no server, or no permission to use the socket file).

Seed 000 (PyMOTW "socket", Chinese), sections Unix 域套接字 (socket_echo_client_uds.py) and
权限 (run as a user without write access to the socket file: "[Errno 13] Permission denied").
Run: python examples/socket_echo_client_uds.py [--path ./uds_socket]
"""

import argparse
import sys

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--path", default="./uds_socket")
args = parser.parse_args()

# Create a UDS socket
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

# Connect the socket to the port where the server is listening
server_address = args.path
print("connecting to {}".format(server_address))
try:
    sock.connect(server_address)
except socket.error as msg:
    print(msg)
    sys.exit(1)

try:
    # Send data
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
    print("closing socket")
    sock.close()
