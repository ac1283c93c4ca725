"""TCP server that prints what each client sends and answers it with "<message> 我收到了".

Seed 002 (cnblogs "python中的网络通信", Chinese), section socket, 服务端. Serves clients one
after another until stopped (Ctrl-C).
Run: python examples/reply_server.py [--port 8888]
"""

import argparse

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8888)
args = parser.parse_args()

# 创建tcp/ip套接字,这里作为服务端
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# 绑定ip和端口,客户端连接这个ip和端口就可以向我们这里的服务端发送消息
server.bind(("localhost", args.port))
# 同时监听多少个到来的链接
server.listen(5)

# 创建循环,表示一个链接关闭了,继续循环处理下一个链接
while True:
    # accept:等待客户端的链接,一旦到来,就会与之交互
    conn, addr = server.accept()
    # 创建循环,因为消息不止发送一次,会多次来回发送
    while True:
        # recv表示接收数据,1024表示最多一次性最多接收1024个字节
        data = conn.recv(1024)
        # 如果对方断开链接了,那么发送的数据就为空了
        if not data:
            print(f"客户端{addr}:断开链接")
            break
        # 有数据的话,那么打印出来
        print(str(data, encoding="utf-8"))
        # 同时也给客户端发送数据
        conn.sendall(data + bytes(" 我收到了", encoding="utf-8"))
    # 清理链接,进行资源、端口的释放等等
    conn.close()
