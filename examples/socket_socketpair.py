"""Parent and child process talking over a socketpair(): ping, pong.

Seed 000 (PyMOTW "socket", Chinese), section 父子进程之间的通信 (socketpair + os.fork).
The first two lines come from two processes, so their order can vary from run to run.
Run: python examples/socket_socketpair.py
"""

import os

import ferrosock as socket

parent, child = socket.socketpair()

pid = os.fork()

if pid:
    print("in parent, sending message")
    child.close()
    parent.sendall(b"ping")
    response = parent.recv(1024)
    print("response from child:", response)
    parent.close()

else:
    print("in child, waiting for message")
    parent.close()
    message = child.recv(1024)
    print("message from parent:", message)
    child.sendall(b"pong")
    child.close()
