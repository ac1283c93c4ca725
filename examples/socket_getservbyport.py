"""Build service URLs from port numbers with getservbyport().

Seed 000 (PyMOTW "socket", Chinese), section 查找服务信息 (getservbyport).
Run: python examples/socket_getservbyport.py
"""

import ferrosock as socket

for port in [80, 443, 21, 70, 25, 143, 993, 110, 995]:
    url = "{}://example.com/".format(socket.getservbyport(port))
    print(url)
