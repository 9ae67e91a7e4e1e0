"""The server's helper processes (webhooks, renderings): fresh interpreters, started with ``subprocess``.

Not multiprocessing's spawn, which runs the server's main module again in the child: a script that
serves the app at its top level, with no ``if __name__ == "__main__":``, would start a second server
there. A child here imports only the module it runs, and talks to the server through its end of a
local socket pair, which it gets as a file descriptor; it learns that the server has gone when that
socket closes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

# Where this package is found, for the child to find it too (the server's sys.path may have been added to).
_HOME = str(Path(__file__).resolve().parent.parent)
_BOOT = (
    "import importlib, sys; sys.path.insert(0, sys.argv[1]);"
    " getattr(importlib.import_module(sys.argv[2]), sys.argv[3])(int(sys.argv[4]))"
)


def start_child(module: str, function: str) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Run ``module.function(fd)`` in a fresh interpreter, ``fd`` being its end of a socket pair: this
    side's end, and the process. The caller waits for the process once it has closed its end."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, _HOME, module, function, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return ours, process
