"""TCP echo server: reads each connection in 16-byte chunks and sends every chunk back.

Seed 000 (PyMOTW "socket", Chinese), section TCP/IP 客户端和服务端 / 服务端
(socket_echo_server.py). Serves one connection at a time until stopped (Ctrl-C).
Run: python examples/socket_echo_server.py [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Bind the socket to the port
server_address = ("localhost", args.port)
print("starting up on {} port {}".format(*server_address))
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
