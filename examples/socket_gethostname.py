"""Print the official name of this host.

Seed 000 (PyMOTW "socket", Chinese), section 在网络上查找主机 (gethostname).
Run: python examples/socket_gethostname.py
"""

import ferrosock as socket

print(socket.gethostname())
