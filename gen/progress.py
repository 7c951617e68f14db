"""Progress lines for long steps: a start line, a heartbeat while it runs,
and the elapsed time at the end."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

HEARTBEAT = 20.0  # seconds between "still running" lines


def say(msg: str) -> None:
    print(f"gen: {msg}", file=sys.stderr, flush=True)


@contextmanager
def running(label: str) -> Iterator[None]:
    """Print label, then a line every HEARTBEAT seconds until the block ends."""
    start = time.monotonic()
    say(f"{label} ...")
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT):
            say(f"  {label}: {time.monotonic() - start:.0f}s")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
