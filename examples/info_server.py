"""TCP server that logs each client message with [info] and answers 'Server received "..."'.

Seed 001 ("Python Socket 编程详解", Chinese), section Socket 编程实践之服务端代码.
Ported from Python 2 to Python 3 (print(), `except X as e`, bytes decoded/encoded as UTF-8);
the seed's `from socket import *` becomes `from ferrosock import *`. The seed listens on
HOST = '' (every interface); by the examples' loopback-only rule the default here is
127.0.0.1; pass --host '' for the seed's behaviour. Serves clients until stopped.
Run: python examples/info_server.py [--host 127.0.0.1] [--port 20000]
"""

import argparse

from ferrosock import *  # socket 模块的所有属性。

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="127.0.0.1", help="'' listens on every interface")
parser.add_argument("--port", type=int, default=20000)
args = parser.parse_args()

HOST = args.host  # 空白表示 bind() 可以使用任何可用的地址。
PORT = args.port
BUFSIZ = 1024  # 将缓冲区大小设置为 1KB。
ADDR = (HOST, PORT)

tcpSerSock = socket(AF_INET, SOCK_STREAM)  # 分配了TCP服务器套接字(tcpSerSock)
tcpSerSock.bind(ADDR)  # 将套接字绑定到服务器地址以及开启TCP监听器的调用。
tcpSerSock.listen(5)  # 在连接被转接或拒绝之前,传入连接请求的最大数。
print("[info]:Server start at: {0}:{1}".format(HOST, PORT))

while True:
    print("[info]:wait for connection...")
    tcpClisock, addr = tcpSerSock.accept()
    print("[info]:Connected by {0}:{1}".format(addr[0], addr[1]))
    try:
        while True:
            data = tcpClisock.recv(BUFSIZ)
            if not data:
                break
            data = data.decode("utf-8")
            print("[info]:{0} [From client]".format(data))
            tcpClisock.sendall('Server received "{0}"'.format(data).encode("utf-8"))
    except EOFError as e:
        print("[Error]: {0}".format(e))
    except KeyboardInterrupt as e:
        print("[Error]: {0}".format(e))
    except error as e:
        print("[Error]: {0}".format(e))
    tcpClisock.close()
# tcpSerSock.close()
