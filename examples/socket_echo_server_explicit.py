"""TCP echo server listening on the address named on the command line.

Seed 000 (PyMOTW "socket", Chinese), section 选择监听地址 (socket_echo_server_explicit.py).
The seed runs it with its host's public name; any name of this machine works, e.g. the
output of `hostname` (use a name that resolves to loopback to stay off the network).
Run: python examples/socket_echo_server_explicit.py NAME [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("server_name", help="host name or address to listen on")
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Bind the socket to the address given on the command line
server_name = args.server_name
server_address = (server_name, args.port)
print("starting up on {} port {}".format(*server_address))
sock.bind(server_address)
sock.listen(1)

while True:
    print("waiting for a connection")
    connection, client_address = sock.accept()
    try:
        print("client connected:", client_address)
        while True:
            data = connection.recv(16)
            print("received {!r}".format(data))
            if data:
                connection.sendall(data)
            else:
                break
    finally:
        connection.close()
