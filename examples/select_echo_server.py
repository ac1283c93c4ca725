"""select.select() server: one listening socket and many connections in one thread, with a
queue of outgoing messages per connection; each message is answered with "<message>我收到了".

Seed 002 (cnblogs "python中的网络通信", Chinese), section select, 服务端. Runs until stopped.
Run: python examples/select_echo_server.py [--port 8888]
"""

import argparse
import queue
import select

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8888)
args = parser.parse_args()

server = socket.socket()
server.bind(("localhost", args.port))
server.listen(5)

# select函数接收三个列表:要读取的、要写入的、可能有错误的对象
inputs = [server]
outputs = []
message_queue = {}

while inputs:
    # select返回三个列表:可读套接字,可写套接字,异常套接字
    readable, writable, exceptional = select.select(inputs, outputs, inputs)
    for s in readable:
        # 如果是主套接字活跃了,意味着新链接到来了
        if s is server:
            conn, addr = s.accept()
            print(f"来自{addr}的链接")
            # 将链接添加到inputs里面,进行监视
            inputs.append(conn)
            # 给当前链接一个队列,用于存储数据
            message_queue[conn] = queue.Queue()
        # 否则是我监听的链接活跃了,说明发送数据了
        else:
            data = s.recv(1024)
            if data:
                print(f"收到来自于{s.getpeername()}的信息{str(data, encoding='utf-8')}")
                message_queue[s].put(data)
                if s not in outputs:
                    outputs.append(s)
            else:
                # 没数据,表示这个套接字来自已经断开链接的客户,所以此时可以关闭流
                print(f"链接{s.getpeername()}已经断开")
                if s in outputs:
                    outputs.remove(s)
                inputs.remove(s)
                s.close()
                # 移除消息队列
                del message_queue[s]

    # 如果一个连接的相应队列中有数据,那么就发送下一个消息。否则从输出链接列表当中删除
    for s in writable:
        try:
            next_msg = message_queue[s].get_nowait()
        except queue.Empty:
            print(f"{s.getpeername()}对应队列为空")
            outputs.remove(s)
        else:
            print(f"发送{next_msg}给{s.getpeername()}")
            s.send(next_msg + bytes("我收到了", encoding="utf-8"))

    # 最后一种情况,exceptional列表中的套接字会关闭
    for s in exceptional:
        print(f"{s.getpeername()}出现异常")
        # 停止inputs中对这个套接字的监听
        inputs.remove(s)
        if s in outputs:
            outputs.remove(s)
        # 移除消息队列
        del message_queue[s]
