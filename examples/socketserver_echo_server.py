"""socketserver.ThreadingTCPServer: a thread per client, each message printed and answered
with "<message>我是你爸" (the seed author's joke; he apologises for it in the post).

Seed 002 (cnblogs "python中的网络通信", Chinese), section socketserver, 服务端.
Runs until stopped (Ctrl-C).
Run: python examples/socketserver_echo_server.py [--port 8080]
"""

import argparse

from ferrosock import socketserver

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
args = parser.parse_args()


class Myserver(socketserver.BaseRequestHandler):
    """
    定义一个类,该类必须继承socketserver下的BaseRequestHandler
    """

    def handle(self):
        # 重写其内部的handle方法
        # 内部封装了self.request,就相当于socket当中的conn
        while True:
            recv = self.request.recv(1024)  # 接受到字节形式的内容
            if not recv:
                break
            print(str(recv, encoding="utf-8"))
            self.request.send(recv + bytes("我是你爸", encoding="utf-8"))


# 创建多任务server,每来一个连接我就创建一个线程与其交互
server = socketserver.ThreadingTCPServer(("localhost", args.port), Myserver)
server.serve_forever()
