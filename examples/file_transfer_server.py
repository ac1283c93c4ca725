"""File transfer server on socketserver.ThreadingTCPServer (the seed's version: fragile).

Seed 002 (cnblogs "python中的网络通信", Chinese), section socketserver, the file transfer
服务端. Protocol: a greeting and a reply; the file's size, then its name, in two separate
send() calls with nothing between them; a reply; the content; a final reply. The received file
is written under its own name in the current directory (or --directory). Runs until stopped.

Why it is fragile: TCP carries a byte stream, not messages. The client's size and name can
arrive together, and then the server's recv(1024) for the size returns both ("18964mashiro.jpg"),
int() fails or the next recv() waits for a name that has already been read, and both sides
wait for each other forever. The same goes for the greeting and for the first bytes of the
content. file_transfer_framed_server.py / _client.py fix it with length-prefixed frames.
Run: python examples/file_transfer_server.py [--port 8080] [--directory .]
"""

import argparse
import os

from ferrosock import socketserver

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
parser.add_argument("--directory", default=".", help="where received files are written")
args = parser.parse_args()


class Myserver(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                print("--------------连接开始----------------")
                # 在发送文件之前,做一次交互进行确认
                recv = self.request.recv(1024)
                if not recv:
                    break
                print(str(recv, encoding="utf-8"))
                self.request.send(
                    bytes("来自服务端的回复:我是loser,我准备好了,请发吧", encoding="utf-8")
                )
                file_size = self.request.recv(1024)  # 获取文件的大小
                if not file_size:
                    break
                print("文件大小:", file_size)
                file_name = str(self.request.recv(1024), encoding="utf-8")
                if not file_name:
                    break
                print("文件名为:", file_name)
                self.request.send(
                    bytes("文件名和文件路径都已经接受完毕,请发送文件内容吧!!!", encoding="utf-8")
                )
                data_size = 0
                # 创建一个文件,用于写入客户端发来的文件
                f = open(os.path.join(args.directory, file_name), "wb")
                while True:
                    recv_data = self.request.recv(1024)
                    f.write(recv_data)
                    data_size += len(recv_data)
                    if data_size >= int(file_size):
                        f.close()
                        break
                print("文件已经传输完毕,向客户端发送信息,告知客户端")
                self.request.send(bytes("文件收完了,断开连接吧!", encoding="utf-8"))
                # 传输完毕,主动断开连接
                print("服务端已经主动断开连接······")
                break
            except Exception:
                # 如果客户端断开连接,直接break,打印断开的连接
                print(f"出现异常,已经和{self.request}断开连接")
                break
            finally:
                print(f"和{self.request}之间的连接已经结束·······")
                print("--------------此次连接结束,等待下一个连接----------------")


# 创建多任务server,每来一个连接我就创建一个线程与其交互
server = socketserver.ThreadingTCPServer(("localhost", args.port), Myserver)
server.serve_forever()
