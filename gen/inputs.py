"""The input boundary: every option checked before any work starts.

Each check raises a GenError naming the option and the cause, so that a
bad option costs no build and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

from gen import gitutil
from gen.errors import GenError, OutputError


def _at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} is less than {least}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _at_least(text, 1)


def natural_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _at_least(text, 0)


def writable_dir(path: Path, option: str) -> None:
    """path is a directory that exists or can be made: it is not a file, and
    the deepest part of it that exists is a directory we can write in."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: exists and is not a directory")
    existing = path.resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is not a directory")
    try:
        # access() says yes to root on /proc: try for real, leaving nothing.
        os.rmdir(tempfile.mkdtemp(prefix=".gen-probe-", dir=existing))
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot write in {existing}: "
                          f"{e.strerror}") from None


def readable_file(path: Path, option: str) -> str:
    """The text of path, or a GenError naming the option."""
    try:
        return path.read_text()
    except OSError as e:
        raise GenError(f"{option} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise GenError(f"{option} {path}: not a text file") from None


def git_date(date: str) -> None:
    """date is one that git's commit and format-patch accept: both take it
    from the environment, as `git var` does."""
    env = {**gitutil.isolated_env(),
           **gitutil.commit_env(gitutil.Identity("gen", "gen@invalid"), date)}
    res = subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise GenError(f"--date '{date}': git does not take it as a date",
                       hint="use '@<seconds> +0000', ISO 8601 with a time "
                            "('2026-01-01T00:00:00Z') or RFC 2822")


def message_id(text: str) -> str:
    """An argparse type: a Message-Id, with or without its angle brackets,
    as b4 and lore show them; returned without them."""
    value = text.strip().removeprefix("<").removesuffix(">")
    if not re.fullmatch(r"[^\s<>@]+@[^\s<>@]+", value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a Message-Id (local@domain)")
    return value
