"""Shared fixtures: real Xen trees, an isolated git identity, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from gen import xentree

ROOT = Path(__file__).resolve().parent.parent
FIXED_DATE = "@1767225600 +0000"  # 2026-01-01, for byte-identical output
TEST_NAME, TEST_EMAIL = "Test Developer", "test.developer@example.org"


def trees_under_test() -> list[str]:
    """Debian's default tree always; a xen.git staging clone when
    GEN_TEST_STAGING names one (checked by hand, see README)."""
    names = ["debian"]
    if os.environ.get("GEN_TEST_STAGING"):
        names.append("staging")
    return names


@pytest.fixture(scope="session", autouse=True)
def no_bench_tables(tmp_path_factory):
    """Generation puts the bench table of the baseline into the cover
    letter when `gen bench` has run on it; the tests look for tables in an
    empty directory of their own, so a bench run on this machine cannot
    change what they generate (test_bench.py measures its own)."""
    old = os.environ.get("GEN_BENCH_DIR")
    os.environ["GEN_BENCH_DIR"] = str(tmp_path_factory.mktemp("bench-tables"))
    yield
    if old is None:
        del os.environ["GEN_BENCH_DIR"]
    else:
        os.environ["GEN_BENCH_DIR"] = old


@pytest.fixture(scope="session")
def debian_tree() -> xentree.XenTree:
    return xentree.open_tree(None, progress=lambda _msg: None)


@pytest.fixture(scope="session", params=trees_under_test())
def xen_tree(request, debian_tree) -> xentree.XenTree:
    if request.param == "debian":
        return debian_tree
    return xentree.open_tree(Path(os.environ["GEN_TEST_STAGING"]))


@pytest.fixture(scope="session")
def xen_root(xen_tree) -> Path:
    """A read-only checkout of the tree under test at its baseline."""
    return Path(git.Repo(xen_tree.repo).working_tree_dir)


def git_env(home: Path, identity: bool = True) -> dict[str, str]:
    """An environment whose git config is a file under home, in which
    `python -m gen` runs this checkout's gen, whatever pip installed, with
    the user's cache (a private HOME would otherwise make every run fetch
    Debian's source and the dom0, and build cold)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    cfg = home / "gitconfig"
    text = f"[user]\n\tname = {TEST_NAME}\n\temail = {TEST_EMAIL}\n" if identity else ""
    cfg.write_text(text)
    env.update(GIT_CONFIG_GLOBAL=str(cfg), GIT_CONFIG_NOSYSTEM="1", HOME=str(home),
               PYTHONPATH=str(ROOT), GEN_CACHE=str(xentree.cache_dir()))
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def gen_cli(tmp_path):
    """Run `python -m gen` in tmp_path with an isolated git identity."""
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, identity: bool = True, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Run:
        e = git_env(home, identity)
        e.update(env or {})
        res = subprocess.run([sys.executable, "-m", "gen", *args], cwd=cwd or tmp_path,
                             env=e, capture_output=True, text=True, check=False)
        return Run(res.returncode, res.stdout, res.stderr)

    return run
