"""File transfer client (the seed's version: fragile; see file_transfer_server.py).

Seed 002 (cnblogs "python中的网络通信", Chinese), section socketserver, the file transfer
客户端. Asks for the path of the file to send on stdin.
Run: python examples/file_transfer_client.py [--port 8080]
"""

import argparse
import os

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
args = parser.parse_args()

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("localhost", args.port))

while True:
    try:
        client.send(bytes("客户端:loser,我要给你发送文件了,准备好了吗?", encoding="utf-8"))
        recv = client.recv(1024)
        print(str(recv, encoding="utf-8"))
        print("那个loser准备好了,那么我开始发吧")
        inp = input("请输入你要发送的文件的路径:")
        # 打开文件准备发送
        f = open(inp, "rb")
        data = f.read()
        file_size = len(data)  # 获取文件的大小
        file_name = os.path.basename(inp)  # 获取不包括路径的文件名
        # 将文件的大小发送给对方
        client.send(bytes(str(file_size), encoding="utf-8"))
        # 将文件名发送给对方
        client.send(bytes(file_name, encoding="utf-8"))
        # 等待服务端回复,发送文件
        recv = client.recv(1024)
        print(str(recv, encoding="utf-8"))
        if not recv:
            break
        client.send(data)
        recv = client.recv(1024)
        print(str(recv, encoding="utf-8"))
        break
    except Exception:
        print("已经断开连接······")
        break
