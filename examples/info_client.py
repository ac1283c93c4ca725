"""TCP client that sends each line typed on stdin to info_server.py; an empty line quits.

Seed 001 ("Python Socket 编程详解", Chinese), section Socket 编程实践之客户端代码.
Ported from Python 2 to Python 3 (raw_input() -> input(), str encoded/decoded as UTF-8);
the seed's `from socket import *` becomes `from ferrosock import *`.
Run: python examples/info_client.py [--port 20000]
"""

import argparse

from ferrosock import *

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=20000)
args = parser.parse_args()

HOST = args.host
PORT = args.port
BUFSIZ = 1024
ADDR = (HOST, PORT)

tcpCliSock = socket(AF_INET, SOCK_STREAM)
tcpCliSock.connect(ADDR)
while True:
    data = input("[info]:Please input msg:")
    if not data:
        break
    tcpCliSock.send(data.encode("utf-8"))
    data = tcpCliSock.recv(BUFSIZ).decode("utf-8")
    print("[info]:{0} [From server]".format(data))
tcpCliSock.close()
