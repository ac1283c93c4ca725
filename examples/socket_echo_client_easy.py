"""TCP echo client using create_connection(), printing the socket's family/type/protocol.

Seed 000 (PyMOTW "socket", Chinese), section 简易客户端连接 (create_connection).
Talks to socket_echo_server.py.
Run: python examples/socket_echo_client_easy.py [--port 10000]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=10000)
args = parser.parse_args()


def get_constants(prefix):
    """Create a dictionary mapping socket module
    constants to their names.
    """
    return {getattr(socket, n): n for n in dir(socket) if n.startswith(prefix)}


families = get_constants("AF_")
types = get_constants("SOCK_")
protocols = get_constants("IPPROTO_")

# Create a TCP/IP socket
sock = socket.create_connection(("localhost", args.port))

print("Family  :", families[sock.family])
print("Type    :", types[sock.type])
print("Protocol:", protocols[sock.proto])
print()

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
