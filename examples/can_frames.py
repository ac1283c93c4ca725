"""Packing and unpacking CAN frames (struct can_frame of <linux/can.h>) with struct.

Seed 003 (Python docs "socket", Russian translation), section Примеры, the CAN example:
build_can_frame() and dissect_can_frame() as in the docs. Without a CAN bus, the program
packs a few frames and unpacks them again. With --interface (e.g. vcan0), it runs the docs'
loop on a raw CAN socket: print each frame received, echo it, send frame 0x01 (that needs
Linux SocketCAN and the interface; it runs until stopped).
Run: python examples/can_frames.py [--interface vcan0]
"""

import argparse
import binascii

import ferrosock as socket
from ferrosock import struct

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--interface", help="a CAN interface such as vcan0: run the docs' loop")
args = parser.parse_args()

# CAN frame packing/unpacking (see 'struct can_frame' in <linux/can.h>)

can_frame_fmt = "=IB3x8s"
can_frame_size = struct.calcsize(can_frame_fmt)


def build_can_frame(can_id, data):
    can_dlc = len(data)
    data = data.ljust(8, b"\x00")
    return struct.pack(can_frame_fmt, can_id, can_dlc, data)


def dissect_can_frame(frame):
    can_id, can_dlc, data = struct.unpack(can_frame_fmt, frame)
    return (can_id, can_dlc, data[:can_dlc])


if args.interface is None:
    print("can_frame_size =", can_frame_size)
    for can_id, data in [
        (0x01, b"\x01\x02\x03"),
        (0x123, b"hello"),
        (0x7FF, b""),
        (0x1FFFFFFF | socket.CAN_EFF_FLAG, b"12345678"),
    ]:
        cf = build_can_frame(can_id, data)
        print("built:    {}".format(binascii.hexlify(cf)))
        print("Received: can_id=%x, can_dlc=%x, data=%s" % dissect_can_frame(cf))
    raise SystemExit(0)

# create a raw socket and bind it to the given CAN interface
s = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
s.bind((args.interface,))

while True:
    cf, addr = s.recvfrom(can_frame_size)

    print("Received: can_id=%x, can_dlc=%x, data=%s" % dissect_can_frame(cf))

    try:
        s.send(cf)
    except OSError:
        print("Error sending CAN frame")

    try:
        s.send(build_can_frame(0x01, b"\x01\x02\x03"))
    except OSError:
        print("Error sending CAN frame")
