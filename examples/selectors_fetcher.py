"""A callback-style HTTP fetcher on selectors.DefaultSelector and a non-blocking socket:
connect, send the GET when writable, print what arrives when readable.

Seed 002 (cnblogs "python中的网络通信", Chinese), section selectors. The seed fetches
http://www.baidu.com/; this machine is offline, so host and port are options (default:
localhost:80). One change: the seed's event loop is `while 1`, and once the fetcher has
unregistered its socket, select() waits forever on nothing; here the loop ends when no
socket is left to watch.
Run: python examples/selectors_fetcher.py [--host localhost] [--port 80]
"""

import argparse
from selectors import EVENT_READ, EVENT_WRITE, DefaultSelector

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="localhost")
parser.add_argument("--port", type=int, default=80)
args = parser.parse_args()

# 会根据当前的操作系统选择一个合适的文件描述符,Linux下是epoll,Windows下则是select
selector = DefaultSelector()


class Fetcher:
    def __init__(self, host):
        self.client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.client.setblocking(False)  # 设置非阻塞socket
        self.host = host

    def get_url(self):
        try:
            self.client.connect((self.host, args.port))
        except BlockingIOError:
            # 也可以做一些其他的事
            pass
        # 将socket注册一个事件,连接建立好之后要send一个请求,所以等待一个可写状态
        selector.register(self.client.fileno(), EVENT_WRITE, self.send_request)

    def send_request(self, key):
        # 调用了之后,我们就不再监视了,因此要取消注册
        selector.unregister(key.fd)
        self.client.send(
            "GET {} HTTP/1.1\r\nHost:{}\r\nConnection:close\r\n\r\n".format("/", self.host).encode(
                "utf-8"
            )
        )
        # 发送一个请求之后要等待服务器返回数据,所以等待一个可读状态
        selector.register(self.client.fileno(), EVENT_READ, self.read_data)

    def read_data(self, key):
        data = b""
        recv = self.client.recv(1024)
        if recv:
            data += recv
        else:
            # 值获取完毕,那么取消注册
            selector.unregister(key.fd)
        print(str(data, encoding="utf-8", errors="ignore"))


def loop_forever():
    # 事件循环:不断地从里面取出满足状态的socket,调用它注册的回调函数
    while selector.get_map():
        ready = selector.select()
        for key, _mask in ready:
            # key.data就是我们注册的回调的函数
            call_back = key.data
            # 将key也就是相应的socket主动传进去
            call_back(key)


if __name__ == "__main__":
    fetcher = Fetcher(args.host)
    fetcher.get_url()
    loop_forever()
