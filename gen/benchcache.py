"""The bench tables kept for the cover letter: one per baseline commit,
under $GEN_BENCH_DIR, else bench/ in the cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gen import xentree


def results_dir() -> Path:
    return Path(os.environ.get("GEN_BENCH_DIR") or xentree.cache_dir() / "bench")


def cached_table(baseline: str) -> str:
    """The table measured on that baseline commit, or "" if none was."""
    path = results_dir() / f"{baseline}.txt"
    return path.read_text().rstrip("\n") if path.is_file() else ""


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory, renamed into
    place, with the mode a plain open() would give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def store(baseline: str, table: str) -> Path:
    path = results_dir() / f"{baseline}.txt"
    write_atomic(path, table)
    return path
