"""TCP client that sends each line typed on stdin to reply_server.py and prints the answer.

Seed 002 (cnblogs "python中的网络通信", Chinese), section socket, 客户端.
One change: the seed's loop never ends (at the end of input, input() raises EOFError and the
program dies with a traceback); here the end of input ends the loop and closes the socket.
As in the seed, an empty line sends nothing and the client then waits for an answer that
never comes.
Run: python examples/reply_client.py [--port 8888]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8888)
args = parser.parse_args()

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# 这里不再是bind了,而是connect,因为我们不是创建服务器等待链接,而是客户端
client.connect(("localhost", args.port))

while True:
    try:
        line = input("你要发送的数据:")
    except EOFError:
        break
    # 发送数据,到时候服务端也会回数据
    client.sendall(bytes(line, encoding="utf-8"))
    data = client.recv(1024)
    print(str(data, encoding="utf-8"))
client.close()
