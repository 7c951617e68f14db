"""When `gen check` reuses a build: only for the same source tree in the
same configuration, and a reused build's binary is the one built then.
Real make on a project of three rules, so that it runs in a second."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from gen import build

# defconfig, olddefconfig and the hypervisor, as Xen's make takes them:
# the "binary" is the source file, copied.
MAKEFILE = """\
defconfig:
\techo 'CONFIG_DEBUG=y' > $(O)/.config
olddefconfig:
\t@true
all:
\tcp source.c $(O)/xen
.DEFAULT_GOAL := all
"""


@pytest.fixture
def tree(tmp_path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "src")
    (tmp_path / "src" / "xen").mkdir()
    (tmp_path / "src" / "xen" / "Makefile").write_text(MAKEFILE)
    return repo


def commit(repo: git.Repo, text: str) -> str:
    (Path(repo.working_tree_dir) / "xen" / "source.c").write_text(text)
    repo.index.add(["xen/Makefile", "xen/source.c"])
    return repo.index.commit(text).tree.hexsha


def builder(repo: git.Repo, tmp_path: Path, options: dict[str, str]) -> build.Builder:
    return build.Builder(Path(repo.working_tree_dir), tmp_path / "out",
                         build.BuildConfig("debug", options), None, 1, tmp_path / "kept")


def test_the_same_tree_is_built_once_and_another_is_built(tree, tmp_path):
    b = builder(tree, tmp_path, {"DEBUG": "y"})
    one = commit(tree, "one")
    first = b.build(tmp_path / "1.log", "build one", one)
    assert first.ok and not first.reused
    again = b.build(tmp_path / "2.log", "build one", one)
    assert again.ok and again.reused and again.binary.read_text() == "one"
    assert (tmp_path / "2.log").read_text().startswith(
        f"gen: reused the build of source tree {one} (debug)")
    two = commit(tree, "two")
    other = b.build(tmp_path / "3.log", "build two", two)
    assert not other.reused and other.binary.read_text() == "two"
    # The first tree's binary is still what was built from it.
    assert b.build(tmp_path / "4.log", "build one", one).binary.read_text() == "one"


def test_other_options_or_no_tree_id_build_again(tree, tmp_path):
    one = commit(tree, "one")
    assert builder(tree, tmp_path, {"DEBUG": "y"}).build(tmp_path / "1.log", "b", one).ok
    assert not builder(tree, tmp_path, {"DEBUG": "n"}).build(tmp_path / "2.log", "b", one).reused
    assert not builder(tree, tmp_path, {"DEBUG": "y"}).build(tmp_path / "3.log", "b").reused


def test_a_failed_build_is_not_kept(tree, tmp_path):
    (Path(tree.working_tree_dir) / "xen" / "Makefile").write_text(
        MAKEFILE.replace("\tcp source.c", "\tfalse\n\tcp source.c"))
    bad = commit(tree, "bad")
    b = builder(tree, tmp_path, {})
    assert not b.build(tmp_path / "1.log", "b", bad).ok
    assert not b.build(tmp_path / "2.log", "b", bad).ok
    assert not list((tmp_path / "kept").glob("*"))
