"""Client for select_echo_server.py: three numbered messages, one second apart.

Seed 002 (cnblogs "python中的网络通信", Chinese), section select, 客户端.
--delay sets the pause between messages (the seed's time.sleep(1)).
Run: python examples/select_echo_client.py [--port 8888] [--delay 1]
"""

import argparse
import time

import ferrosock as socket

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--port", type=int, default=8888)
parser.add_argument("--delay", type=float, default=1.0, help="seconds between messages")
args = parser.parse_args()

client = socket.socket()
print("连接了")
client.connect(("localhost", args.port))
for i in range(1, 4):
    print(f"第{i}次循环")
    client.send(b"number %d" % i)
    data = client.recv(1024)
    print(str(data, encoding="utf-8"))
    time.sleep(args.delay)
