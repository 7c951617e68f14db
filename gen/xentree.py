"""Find or fetch the Xen tree, and give later stages a scratch checkout.

The user's files are never modified (postings.py adds refs under refs/gen/ to a
clone, nothing else): a clone is read through a shared scratch
clone, an unpacked tree is imported into a scratch repository, and the
default tree (Debian's source package) lives in the cache.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import git

from gen import gitutil
from gen.debian import Apt
from gen.errors import TreeError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class XenTree:
    """A Xen source tree at one baseline commit."""

    repo: Path  # a git repository holding `baseline`
    baseline: str  # full commit id
    kind: str  # "clone", "unpacked" or "debian"
    origin: str  # what the user gave us, for messages and the cover letter
    upstream_hint: str | None = None  # upstream commit named by a Debian version


def cache_dir() -> Path:
    base = os.environ.get("GEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xen-directmap-gen")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_xen_source(path: Path) -> bool:
    makefile = path / "xen" / "Makefile"
    return (makefile.is_file() and "XEN_SUBVERSION" in makefile.read_text(errors="replace")
            and (path / "xen" / "common").is_dir())


def open_tree(path: Path | None, base: str = "HEAD", progress: Progress = print) -> XenTree:
    """Resolve --xen (or the default) into a XenTree."""
    if path is None:
        return debian_tree(progress)
    path = path.expanduser()
    if not path.exists():
        raise TreeError(f"Xen tree not found: {path}")
    if not path.is_dir():
        raise TreeError(f"Xen tree is not a directory: {path}")
    path = path.resolve()
    if not is_xen_source(path):
        hint = None
        if (path / "common").is_dir() and (path.parent / "xen" / "Makefile").is_file():
            hint = f"pass the top of the tree, {path.parent}"
        raise TreeError(f"not a Xen source tree (no xen/Makefile with a version): {path}",
                        hint=hint)
    if _is_toplevel_repo(path):
        return clone_tree(path, base)
    return unpacked_tree(path, progress)


@contextlib.contextmanager
def opened(path: Path | None, base: str = "HEAD",
           progress: Progress = print) -> Iterator[XenTree]:
    """open_tree(), and the scratch repository of an imported unpacked tree
    removed when the block ends, however it ends."""
    tree = open_tree(path, base, progress)
    try:
        yield tree
    finally:
        if tree.kind == "unpacked":
            shutil.rmtree(tree.repo.parent, ignore_errors=True)


def _is_toplevel_repo(path: Path) -> bool:
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return repo.working_tree_dir is not None and Path(repo.working_tree_dir).resolve() == path


def clone_tree(path: Path, base: str) -> XenTree:
    repo = git.Repo(path)
    if repo.is_dirty(index=True, working_tree=True, untracked_files=False):
        changed = {d.a_path for d in repo.index.diff(None)}
        if repo.head.is_valid():
            changed |= {d.a_path for d in repo.index.diff("HEAD")}
        shown = ", ".join(sorted(changed)[:3])
        raise TreeError(f"Xen tree has uncommitted changes: {path} ({shown})",
                        hint="commit or stash them; the series is built on a commit")
    try:
        sha = repo.commit(base).hexsha
    except (git.BadName, ValueError) as e:
        raise TreeError(f"no commit '{base}' in {path}") from e
    return XenTree(repo=path, baseline=sha, kind="clone", origin=f"{path} at {sha[:12]}")


def _import(src: Path, dest: Path, message: str) -> str:
    """Make dest a git repository whose one commit holds src's files."""
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    repo = gitutil.isolate(git.Repo.init(dest))
    repo.git.add("-A", "--force")
    env = gitutil.commit_env(None, "@0 +0000")
    repo.git.commit("-q", "--no-verify", "-m", message, env={**gitutil.isolated_env(), **env})
    return repo.head.commit.hexsha


def unpacked_tree(path: Path, progress: Progress) -> XenTree:
    progress(f"importing unpacked tree {path} into a scratch repository")
    dest = Path(tempfile.mkdtemp(prefix="gen-import-")) / "xen"
    sha = _import(path, dest, f"Import of unpacked Xen tree {path.name}")
    return XenTree(repo=dest, baseline=sha, kind="unpacked", origin=f"unpacked tree {path}")


_DEBIAN_UPSTREAM = re.compile(r"\+\d+-g([0-9a-f]{7,40})")


def debian_tree(progress: Progress) -> XenTree:
    """Debian's xen source package: the newest version whose files download."""
    root = cache_dir() / "debian"
    done = sorted(root.glob("xen-*/repo/.git"))
    if done:
        repo_path = done[-1].parent
        version = repo_path.parent.name.removeprefix("xen-")
        progress(f"using cached Debian xen {version} source")
        return _debian_result(repo_path, version)

    progress("fetching Debian's xen source package with apt")
    apt = Apt(root / "apt")
    apt.prepare()
    versions = apt.source_versions("xen")
    if not versions:
        raise TreeError("apt knows no 'xen' source package",
                        hint="check the machine's Debian apt sources, or pass --xen PATH")
    for version in versions:
        work = Path(tempfile.mkdtemp(prefix="gen-debsrc-", dir=root))
        if not apt.download_source("xen", version, work):
            progress(f"  xen {version}: listed but its files do not download, trying older")
            shutil.rmtree(work)
            continue
        progress(f"  xen {version}: downloaded")
        orig = sorted(work.glob("xen_*.orig.tar.*"))
        if not orig:
            raise TreeError(f"Debian xen {version} has no .orig tarball")
        with tarfile.open(orig[0]) as tar:
            tar.extractall(work / "src", filter="tar")
        tops = [p for p in (work / "src").iterdir() if p.is_dir()]
        if len(tops) != 1 or not is_xen_source(tops[0]):
            raise TreeError(f"Debian xen {version}'s tarball is not a Xen tree")
        final = root / f"xen-{version}"
        _import(tops[0], work / "repo", f"Debian source package xen {version}")
        shutil.rmtree(work / "src")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        return _debian_result(final / "repo", version)
    raise TreeError("no version of Debian's xen source package could be downloaded: "
                    + ", ".join(versions))


def _debian_result(repo_path: Path, version: str) -> XenTree:
    sha = git.Repo(repo_path).head.commit.hexsha
    m = _DEBIAN_UPSTREAM.search(version)
    return XenTree(repo=repo_path, baseline=sha, kind="debian",
                   origin=f"Debian source package xen {version}",
                   upstream_hint=m.group(1) if m else None)


def checkout(tree: XenTree, dest: Path, branch: str) -> git.Repo:
    """A scratch clone of tree at its baseline, on a new branch."""
    repo = git.Repo.clone_from(str(tree.repo), str(dest), shared=True, no_checkout=True,
                               env=gitutil.isolated_env())
    gitutil.isolate(repo)
    repo.git.checkout("-q", "-b", branch, tree.baseline)
    return repo
