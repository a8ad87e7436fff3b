#!/usr/bin/python3
"""Run sipvicious' svwar or svcrack from a given source address.

sipvicious 0.3.3 (Debian) accepts ``-b/--bindingip`` for svwar and svcrack
but their ``main()`` never passes it on, so they always send from the
wildcard address. Usage: ``sipvicious_bound.py svwar 127.0.0.3 [svwar args]``.
Runs under the system Python, where Debian installs the package.
"""

import sys

sys.path.insert(0, "/usr/share/sipvicious")  # where Debian puts the package

from sipvicious import svcrack, svwar

tool, address, *args = sys.argv[1:]
module = {"svwar": svwar, "svcrack": svcrack}[tool]
scanner = svwar.TakeASip if tool == "svwar" else svcrack.ASipOfRedWine
original = scanner.__init__


def bound(self, *a, **kw):
    kw["bindingip"] = address
    original(self, *a, **kw)


scanner.__init__ = bound
sys.argv = [tool, *args]
sys.exit(module.main())
