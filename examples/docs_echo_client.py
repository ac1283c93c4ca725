"""Echo client from the socket module's documentation (IPv4, `with` statement).

Seed 003 (Python docs "socket", Russian translation), section Примеры, second example
("Программа эхо-клиента"). The docs connect to 'daring.cwi.nl'; the default here is
'localhost', where docs_echo_server.py listens.
Run: python examples/docs_echo_client.py [--host localhost] [--port 50007]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="localhost")
parser.add_argument("--port", type=int, default=50007)
args = parser.parse_args()

HOST = args.host  # The remote host
PORT = args.port  # The same port as used by the server
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.connect((HOST, PORT))
    s.sendall(b"Hello, world")
    data = s.recv(1024)
print("Received", repr(data))
