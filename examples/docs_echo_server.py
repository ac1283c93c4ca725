"""Echo server from the socket module's documentation (IPv4, `with` statement, one client).

Seed 003 (Python docs "socket", Russian translation), section Примеры, first example
("Программа эхо-сервера"). Serves a single connection, then exits.
The docs bind HOST = '' (every interface); by the examples' loopback-only rule the default
here is 'localhost'; pass --host '' for the docs' behaviour.
Run: python examples/docs_echo_server.py [--host localhost] [--port 50007]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="localhost", help="'' listens on every interface")
parser.add_argument("--port", type=int, default=50007)
args = parser.parse_args()

HOST = args.host  # Symbolic name meaning all available interfaces
PORT = args.port  # Arbitrary non-privileged port
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind((HOST, PORT))
    s.listen(1)
    conn, addr = s.accept()
    with conn:
        print("Connected by", addr)
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
