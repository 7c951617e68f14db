"""Running harness code that may hang or wreck the machine in a forked
child, so that the test process and its machines are untouched."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


def outcome(fn: Callable[[], str], timeout: float) -> str:
    """What fn returned in a forked child, "raised: <exception>" if it
    raised, or "hung" if it ran for more than timeout seconds (killed)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            said = fn()
        except BaseException as e:
            said = f"raised: {type(e).__name__}: {e}"
        os.write(write, said.encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                text = os.read(read, 1 << 16).decode()
                return text if os.waitstatus_to_exitcode(status) == 0 else \
                    f"died: status {status}"
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "hung"
    finally:
        os.close(read)
