"""Multicast sender: one datagram to a multicast group, then every acknowledgement that comes
back until a 0.2 s timeout.

Seed 000 (PyMOTW "socket", Chinese), section 组播 / 发送组播消息 (socket_multicast_sender.py).
Loopback only by default: the datagram leaves through the loopback interface (IP_MULTICAST_IF)
with IP_MULTICAST_LOOP on, so receivers on this host (socket_multicast_receiver.py) get it and
nothing goes on the network. --interface 0.0.0.0 lets the kernel pick the interface by its
routes, as the seed does, to reach receivers on other hosts.
Run: python examples/socket_multicast_sender.py [--port 10000] [--interface 127.0.0.1]
"""

import argparse

import ferrosock as socket
from ferrosock import struct

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--group", default="224.3.29.71")
parser.add_argument("--port", type=int, default=10000)
parser.add_argument(
    "--interface",
    default="127.0.0.1",
    help="address of the interface to send on (0.0.0.0: the kernel's choice)",
)
args = parser.parse_args()

message = b"very important data"
multicast_group = (args.group, args.port)

# Create the datagram socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

# Set a timeout so the socket does not block
# indefinitely when trying to receive data.
sock.settimeout(0.2)

# Set the time-to-live for messages to 1 so they do not
# go past the local network segment.
ttl = struct.pack("b", 1)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)

# Deliver to receivers on this host too, and send through the chosen interface.
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
if args.interface != "0.0.0.0":
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.interface))

try:
    # Send data to the multicast group
    print("sending {!r}".format(message))
    sent = sock.sendto(message, multicast_group)

    # Look for responses from all recipients
    while True:
        print("waiting to receive")
        try:
            data, server = sock.recvfrom(16)
        except socket.timeout:
            print("timed out, no more responses")
            break
        else:
            print("received {!r} from {}".format(data, server))

finally:
    print("closing socket")
    sock.close()
