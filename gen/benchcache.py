"""The bench tables kept for the cover letter: one per baseline commit,
under $GEN_BENCH_DIR, else bench/ in the cache, with the digest of the
code of each series it measured (gitutil.series_digest without the
messages, which name the tool's version), so that a cover letter quotes
only a table measured on its own code."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from gen import xentree


def results_dir() -> Path:
    return Path(os.environ.get("GEN_BENCH_DIR") or xentree.cache_dir() / "bench")


def cached_table(baseline: str, variant: str, code_digest: str) -> str:
    """The table measured on that baseline commit with the variant's code
    as it is now, or "" if none was."""
    path = results_dir() / f"{baseline}.json"
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    if kept.get("digests", {}).get(variant) != code_digest:
        return ""
    return str(kept.get("table", "")).rstrip("\n")


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


def store(baseline: str, table: str, digests: dict[str, str]) -> Path:
    path = results_dir() / f"{baseline}.json"
    write_atomic(path, json.dumps({"digests": digests, "table": table}, indent=1) + "\n")
    return path
