"""File transfer client, fixed: every message is a length-prefixed frame (ferrosock framing).

The seed's client (seed 002; see file_transfer_client.py) sends the size and the name with two
send() calls and trusts the server to receive them separately; here each message is a frame
(socket.send_frame()) and each reply is read whole (socket.recv_frame()), so the exchange
cannot get out of step; the content goes as one frame with an 8-byte length. See
file_transfer_framed_server.py. Asks for the path of the file to send on stdin.
Run: python examples/file_transfer_framed_client.py [--port 8080]
"""

import argparse
import os

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8080)
args = parser.parse_args()

with socket.create_connection(("localhost", args.port)) as client:
    try:
        client.send_frame(bytes("客户端:loser,我要给你发送文件了,准备好了吗?", encoding="utf-8"))
        recv = client.recv_frame(max_size=1024)
        print(str(recv, encoding="utf-8"))
        print("那个loser准备好了,那么我开始发吧")
        inp = input("请输入你要发送的文件的路径:")
        # 打开文件准备发送
        with open(inp, "rb") as f:
            data = f.read()
        file_size = len(data)  # 获取文件的大小
        file_name = os.path.basename(inp)  # 获取不包括路径的文件名
        # 将文件的大小和文件名发送给对方: two frames, which the server reads one by one
        client.send_frames(
            [bytes(str(file_size), encoding="utf-8"), bytes(file_name, encoding="utf-8")]
        )
        # 等待服务端回复,发送文件
        recv = client.recv_frame(max_size=1024)
        print(str(recv, encoding="utf-8"))
        client.send_frame(data, header="!Q")
        recv = client.recv_frame(max_size=1024)
        print(str(recv, encoding="utf-8"))
    except (EOFError, ValueError, OSError) as e:
        print(f"已经断开连接······ ({type(e).__name__}: {e})")
        raise SystemExit(1) from None
