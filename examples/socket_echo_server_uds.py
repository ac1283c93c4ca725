"""Unix-domain stream echo server: removes a stale socket file, then echoes in 16-byte chunks.

Seed 000 (PyMOTW "socket", Chinese), section Unix 域套接字 (socket_echo_server_uds.py).
The socket's address is a file path ('./uds_socket', relative to the current directory, as in
the seed; --path to change it). Runs until stopped (Ctrl-C).
Run: python examples/socket_echo_server_uds.py [--path ./uds_socket]
"""

import argparse
import os

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--path", default="./uds_socket")
args = parser.parse_args()

server_address = args.path

# Make sure the socket does not already exist
try:
    os.unlink(server_address)
except OSError:
    if os.path.exists(server_address):
        raise

# Create a UDS socket
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

# Bind the socket to the address
print("starting up on {}".format(server_address))
sock.bind(server_address)

# Listen for incoming connections
sock.listen(1)

while True:
    # Wait for a connection
    print("waiting for a connection")
    connection, client_address = sock.accept()
    try:
        print("connection from", client_address)

        # Receive the data in small chunks and retransmit it
        while True:
            data = connection.recv(16)
            print("received {!r}".format(data))
            if data:
                print("sending data back to the client")
                connection.sendall(data)
            else:
                print("no data from", client_address)
                break

    finally:
        # Clean up the connection
        connection.close()
