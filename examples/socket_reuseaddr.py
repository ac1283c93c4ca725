"""Restarting a server right after it closed a connection: 'Address already in use',
and SO_REUSEADDR.

Seed 003 (Python docs "socket", Russian translation), section Примеры, the SO_REUSEADDR note:
running a server several times in quick succession fails with
"OSError: [Errno 98] Address already in use", because the previous run left its side of the
connection in TIME_WAIT; setting SO_REUSEADDR before bind() lets the kernel reuse the address.

The program plays the docs' scenario in one process, on one port: it "runs the server" three
times in a row. Each run serves one client and closes the connection first (which is what
leaves the TIME_WAIT behind). Runs 1 and 2 set SO_REUSEADDR, so run 2 starts at once; run 3
does not set it and cannot bind. (The kernel lets a new socket take over a TIME_WAIT address
only when both the old and the new socket set SO_REUSEADDR: a server sets it on every run.)
Run: python examples/socket_reuseaddr.py [--port 50007]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=50007)
args = parser.parse_args()

HOST = "localhost"
PORT = args.port


def run_server(number, reuse):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    print(
        "run {}: SO_REUSEADDR={}".format(
            number, s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        )
    )
    with s:
        try:
            s.bind((HOST, PORT))
        except OSError as e:
            print("run {}: {}: {}".format(number, type(e).__name__, e))
            return
        s.listen(1)
        print("run {}: listening on {}".format(number, s.getsockname()))
        # One client: it connects, the server says goodbye and closes first.
        with socket.create_connection((HOST, PORT)) as client:
            conn, _ = s.accept()
            with conn:
                conn.sendall(b"bye")
            print(
                "run {}: client got {!r}, then {!r}".format(
                    number, client.recv(1024), client.recv(1024)
                )
            )


run_server(1, reuse=True)
run_server(2, reuse=True)
run_server(3, reuse=False)
