"""Multicast receiver: joins a multicast group, prints each datagram and acknowledges it.

Seed 000 (PyMOTW "socket", Chinese), section 组播 / 接收组播消息
(socket_multicast_receiver.py). Runs until stopped (Ctrl-C).

The membership request names the group and the interface to listen on. The seed packs it as
struct.pack('4sL', group, socket.INADDR_ANY): "all interfaces", which in fact makes the kernel
pick one interface by its routes (here, the one towards the default gateway). Loopback only by
default, this example joins on the loopback interface, packing the request as the kernel's
struct ip_mreq: the group's 4 bytes, then the interface's 4-byte address ('4s4s').
--interface 0.0.0.0 uses the seed's packing as is. (On 64-bit Linux '4sL' is 16 bytes: the
kernel reads its bytes 4-8, struct padding, as the interface address and bytes 8-12 as an
interface index, both 0 for INADDR_ANY; so only INADDR_ANY is meaningful in that layout.)
Run: python examples/socket_multicast_receiver.py [--port 10000] [--interface 127.0.0.1]
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
    help="address of the interface to join on (0.0.0.0: as the seed)",
)
args = parser.parse_args()

multicast_group = args.group
server_address = ("", args.port)

# Create the socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

# Bind to the server address
sock.bind(server_address)

# Tell the operating system to add the socket to
# the multicast group on the chosen interface.
group = socket.inet_aton(multicast_group)
if args.interface == "0.0.0.0":
    mreq = struct.pack("4sL", group, socket.INADDR_ANY)
else:
    mreq = struct.pack("4s4s", group, socket.inet_aton(args.interface))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)

# Receive/respond loop
while True:
    print("\nwaiting to receive message")
    data, address = sock.recvfrom(1024)

    print("received {} bytes from {}".format(len(data), address))
    print(data)

    print("sending acknowledgement to", address)
    sock.sendto(b"ack", address)
