"""TCP echo server bound to INADDR_ANY (''), reporting the address with getsockname().

Seed 000 (PyMOTW "socket", Chinese), section 选择监听地址 (the '' / INADDR_ANY variant).
The seed binds '' (every interface). By the examples' loopback-only rule the default here is
127.0.0.1; pass --host '' for the seed's behaviour (it then prints 0.0.0.0).
Run: python examples/socket_echo_server_any.py --host '' [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="127.0.0.1", help="'' listens on every interface")
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Bind the socket to the address given on the command line
server_address = (args.host, args.port)
sock.bind(server_address)
print("starting up on {} port {}".format(*sock.getsockname()))
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
