"""File transfer server, fixed: every message is a length-prefixed frame (ferrosock framing).

The seed's server (seed 002, section socketserver, file transfer; see
file_transfer_server.py) reads each message with recv(1024) and hopes it gets exactly one
message: TCP is a byte stream, so the size and the name, sent back to back, can come in one
recv(), and then both sides wait for each other forever; a name over 1024 bytes would be cut.
Here each message goes as a frame (a 4-byte big-endian length, then the bytes) with
socket.send_frame() and is read whole with socket.recv_frame(), which reads exactly one frame,
however TCP split or merged the bytes. The lengths read off the wire are bounded (max_size), the
file name is reduced to its last path component so a client cannot write outside --directory,
and the content is checked against the announced size. The printed messages are the seed's.
Runs until stopped (Ctrl-C).
Run: python examples/file_transfer_framed_server.py [--port 8080] [--directory .]
"""

import argparse
import os

from ferrosock import socketserver

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
parser.add_argument("--directory", default=".", help="where received files are written")
parser.add_argument("--max-size", type=int, default=64 * 1024 * 1024, help="largest file accepted")
args = parser.parse_args()


class FileReceiver(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request  # a ferrosock.socket
        print("--------------连接开始----------------")
        try:
            # 在发送文件之前,做一次交互进行确认
            greeting = conn.recv_frame(max_size=1024)
            print(str(greeting, encoding="utf-8"))
            conn.send_frame(bytes("来自服务端的回复:我是loser,我准备好了,请发吧", encoding="utf-8"))
            file_size = int(conn.recv_frame(max_size=20))  # 获取文件的大小
            print("文件大小:", file_size)
            if not 0 <= file_size <= args.max_size:
                raise ValueError(f"file of {file_size} bytes refused (--max-size {args.max_size})")
            file_name = os.path.basename(str(conn.recv_frame(max_size=255), encoding="utf-8"))
            print("文件名为:", file_name)
            if file_name in ("", ".", ".."):
                raise ValueError("no file name")
            conn.send_frame(
                bytes("文件名和文件路径都已经接受完毕,请发送文件内容吧!!!", encoding="utf-8")
            )
            data = conn.recv_frame(header="!Q", max_size=file_size)
            if len(data) != file_size:
                raise ValueError(f"received {len(data)} bytes, announced {file_size}")
            with open(os.path.join(args.directory, file_name), "wb") as f:
                f.write(data)
            print("文件已经传输完毕,向客户端发送信息,告知客户端")
            conn.send_frame(bytes("文件收完了,断开连接吧!", encoding="utf-8"))
            # 传输完毕,主动断开连接
            print("服务端已经主动断开连接······")
        except (EOFError, ValueError, OSError) as e:
            # IncompleteReadError (an EOFError): the client left mid-frame;
            # FrameError (a ValueError): a length over max_size
            print(f"出现异常({type(e).__name__}: {e}),已经和{self.client_address}断开连接")
        finally:
            print(f"和{self.client_address}之间的连接已经结束·······")
            print("--------------此次连接结束,等待下一个连接----------------")


server = socketserver.ThreadingTCPServer(("localhost", args.port), FileReceiver)
server.serve_forever()
