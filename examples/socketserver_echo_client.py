"""Client for socketserver_echo_server.py: sends each line typed on stdin, prints the answer.

Seed 002 (cnblogs "python中的网络通信", Chinese), section socketserver, 客户端1/2/3 (the seed's
three clients are the same program; run it three times). One change: the seed's loop never
ends (at the end of input it dies with EOFError); here the end of input (Ctrl-D) ends it.
Run: python examples/socketserver_echo_client.py [--port 8080]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
args = parser.parse_args()

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("localhost", args.port))

while True:
    try:
        inp = input("请输入你要发送的内容:")
    except EOFError:
        break
    client.send(bytes(inp, encoding="utf-8"))
    recv = client.recv(1024)
    print(str(recv, encoding="utf-8"))
client.close()
