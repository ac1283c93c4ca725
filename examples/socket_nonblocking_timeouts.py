"""Blocking, non-blocking and timeout modes of a socket, and the errors each one raises.

Seed 000 (PyMOTW "socket", Chinese), section 非阻塞通信和超时 (setblocking(0): "socket.error"
when not ready; settimeout(): "timeout" when the time runs out), with seed 003 (Python docs
"socket", Russian), section Примечания относительно тайм-аутов сокетов (the three modes, and
the mode of sockets returned by accept()), and seed 001's setblocking() row. The seeds
describe these in prose; this program shows each statement on a loopback connection.
Run: python examples/socket_nonblocking_timeouts.py [--port 0]
"""

import argparse
import select

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=0, help="listening port (0: any free port)")
args = parser.parse_args()


def mode(sock):
    return "timeout={} blocking={}".format(sock.gettimeout(), sock.getblocking())


def attempt(what, func):
    """Call func(); print its result or the exception it raised."""
    try:
        result = func()
    except socket.timeout as e:
        print("{}: socket.timeout ({}): {}".format(what, type(e).__name__, e))
    except socket.error as e:
        print("{}: socket.error ({}): {}".format(what, type(e).__name__, e))
    else:
        print("{}: {!r}".format(what, result))


print("-- the three modes")
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    print("new socket      :", mode(sock))
    sock.setblocking(0)
    print("setblocking(0)  :", mode(sock))
    sock.settimeout(0.25)
    print("settimeout(0.25):", mode(sock))
    sock.settimeout(None)
    print("settimeout(None):", mode(sock))
    sock.setblocking(1)
    print("setblocking(1)  :", mode(sock))

print("-- a connection on loopback")
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", args.port))
server.listen(1)
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
print("accepted socket :", mode(conn))

print("-- non-blocking: what is not ready fails at once")
client.setblocking(0)
attempt("recv, nothing sent yet", lambda: client.recv(16))
server.setblocking(0)
attempt("accept, nobody connecting", server.accept)
server.setblocking(1)
conn.sendall(b"ready")
select.select([client], [], [], 5.0)  # wait until it can be read
attempt("recv, once data has come", lambda: client.recv(16))
try:
    while True:
        client.send(b"x" * 65536)
except BlockingIOError as e:
    print("send until the buffers are full: socket.error ({}): {}".format(type(e).__name__, e))

print("-- timeout: operations wait at most that long")
client.settimeout(0.2)
attempt("recv, nothing sent back", lambda: client.recv(16))
attempt("sendall into full buffers", lambda: client.sendall(b"x" * 65536))

print("-- connect")
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setblocking(0)
    attempt("non-blocking connect", lambda: s.connect(server.getsockname()))
    select.select([], [s], [], 5.0)  # writable once the handshake is over
    print("then, when writable, SO_ERROR =", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    server.accept()[0].close()
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
    closed_port.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        attempt(
            "connect with a timeout, port not listening",
            lambda: s.connect(closed_port.getsockname()),
        )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        attempt("connect_ex, port not listening", lambda: s.connect_ex(closed_port.getsockname()))

print("-- sockets returned by accept()")
server.settimeout(1.0)
with socket.create_connection(server.getsockname()), server.accept()[0] as accepted:
    print("listener in timeout mode -> accepted socket:", mode(accepted))
socket.setdefaulttimeout(2.5)
with socket.socket() as s:
    print("after setdefaulttimeout(2.5), new socket:", mode(s))
with socket.create_connection(server.getsockname()), server.accept()[0] as accepted:
    print("after setdefaulttimeout(2.5), accepted socket:", mode(accepted))
socket.setdefaulttimeout(None)

for s in (client, conn, server):
    s.close()
