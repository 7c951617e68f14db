"""Rerolls and pushes on the real tree, as a b4 user works: each version
generated from a clone is recorded there, the next one's cover letter
carries a range-diff against it, and `gen push` hands a version to a
remote (here a local bare repository standing in for a fork)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import git
import pytest

from gen.variants import FIXES
from tests.conftest import FIXED_DATE, ROOT
from tests.system.test_generate import send_email_dry_run


@pytest.fixture(scope="module")
def clone(debian_tree, tmp_path_factory) -> Path:
    """A xen.git-like clone of the Debian tree, with a bare 'fork' remote."""
    top = tmp_path_factory.mktemp("postings")
    repo = git.Repo.clone_from(str(debian_tree.repo), str(top / "xen"))
    git.Repo.init(str(top / "fork.git"), bare=True)
    repo.create_remote("fork", str(top / "fork.git"))
    return top / "xen"


def refs(repo: Path, pattern: str = "refs/gen") -> dict[str, str]:
    out = git.Repo(repo).git.for_each_ref("--format=%(refname) %(objectname)", pattern)
    return dict(line.split() for line in out.splitlines())


def changed_tool(dest: Path) -> Path:
    """A copy of this tool whose vunmap_partial() warns with other words."""
    for part in ("gen", "templates"):
        shutil.copytree(ROOT / part, dest / part)
    tpl = dest / "templates" / "c" / "vmap" / "vunmap_partial.c.j2"
    text = tpl.read_text()
    assert "vmap: bad partial unmap of %p" in text
    tpl.write_text(text.replace("vmap: bad partial unmap of %p", "vmap: refusing to unmap %p"))
    return dest


def test_a_reroll_carries_a_range_diff_against_the_recorded_version(gen_cli, clone,
                                                                     tmp_path):
    v1 = gen_cli("--variant", "split-vmap", "--xen", str(clone), "-o", str(tmp_path / "v1"),
                 "--no-cc", "--date", FIXED_DATE)
    assert v1.returncode == 0, v1.stderr
    recorded = refs(clone, "refs/gen/split-vmap/")
    # The series is recorded on the fixes series that it applies on top
    # of, which begins at the clone's HEAD: the range is its own patches.
    head = git.Repo(clone).head.commit.hexsha
    base = recorded["refs/gen/split-vmap/v1-base"]
    assert [c.summary for c in git.Repo(clone).iter_commits(f"{head}..{base}", reverse=True)] \
        == [p.subject for p in FIXES.patches]
    tip = git.Repo(clone).commit(recorded["refs/gen/split-vmap/v1"])
    assert len(list(git.Repo(clone).iter_commits(f"{base}..{tip.hexsha}"))) == \
        len(v1.stdout.split()) - 1
    assert "Range-diff" not in Path(v1.stdout.split()[0]).read_text()

    tool = changed_tool(tmp_path / "tool")
    v2 = gen_cli("--variant", "split-vmap", "--xen", str(clone), "-o", str(tmp_path / "v2"),
                 "--no-cc", "--date", FIXED_DATE, "-v", "2", env={"PYTHONPATH": str(tool)})
    assert v2.returncode == 0, v2.stderr
    files = [Path(f) for f in v2.stdout.split()]
    cover = files[0].read_text()
    rd = cover[cover.index("Range-diff against v1:\n"):cover.index("\nbase-commit: ")]
    # One line per patch pair: only the patch whose template changed
    # differs, and by that line.
    pairs = re.findall(r"^ *\d+: +[0-9a-f]+ ([=!<>]) +\d+: +[0-9a-f]+ (.*)$", rd, re.M)
    assert [mark for mark, _ in pairs].count("=") == len(files) - 2, rd
    assert [subject for mark, subject in pairs if mark != "="] == \
        ["xen/vmap: allow releasing part of an allocation"], rd
    assert '    -+        printk(XENLOG_WARNING "vmap: bad partial unmap of %p' in rd, rd
    assert '    ++        printk(XENLOG_WARNING "vmap: refusing to unmap %p' in rd, rd
    assert "refs/gen/split-vmap/v2" in refs(clone)
    send_email_dry_run(files, tmp_path / "home")


def test_a_reroll_without_a_recorded_version_says_so(gen_cli, clone, tmp_path):
    run = gen_cli("--variant", "no-trim", "--xen", str(clone), "-o", str(tmp_path / "o"),
                  "--no-cc", "--date", FIXED_DATE, "-v", "3")
    assert run.returncode == 0, run.stderr
    assert "no recorded v2 of no-trim" in run.stderr
    assert "Range-diff" not in Path(run.stdout.split()[0]).read_text()
    assert "refs/gen/no-trim/v3" in refs(clone)


def test_push_makes_a_branch_and_refuses_one_it_did_not_make(gen_cli, clone, tmp_path):
    made = gen_cli("--variant", "no-trim", "--xen", str(clone), "-o", str(tmp_path / "o"),
                   "--no-cc", "--date", FIXED_DATE)
    assert made.returncode == 0, made.stderr
    tip = refs(clone)["refs/gen/no-trim/v1"]
    fork = clone.parent / "fork.git"

    run = gen_cli("push", "--variant", "no-trim", "--xen", str(clone), "--remote", "fork",
                  "-v", "1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["fork", "no-trim-v1", tip]
    assert refs(fork, "refs/heads/")["refs/heads/no-trim-v1"] == tip
    # Its own branch it may push again.
    again = gen_cli("push", "--variant", "no-trim", "--xen", str(clone), "--remote", "fork",
                    "-v", "1")
    assert again.returncode == 0, again.stderr

    # Someone else's branch it leaves alone, unless forced.
    base = git.Repo(clone).head.commit.hexsha
    git.Repo(clone).git.push("fork", f"{base}:refs/heads/theirs")
    refused = gen_cli("push", "--variant", "no-trim", "--xen", str(clone), "--remote", "fork",
                      "-v", "1", "--branch", "theirs")
    assert refused.returncode == 1
    assert refused.stderr.startswith("gen: error: branch 'theirs' of fork is at "
                                     f"{base[:12]}, which gen did not push there\n")
    assert "Traceback" not in refused.stderr
    assert refs(fork, "refs/heads/")["refs/heads/theirs"] == base
    forced = gen_cli("push", "--variant", "no-trim", "--xen", str(clone), "--remote", "fork",
                     "-v", "1", "--branch", "theirs", "--force")
    assert forced.returncode == 0, forced.stderr
    assert refs(fork, "refs/heads/")["refs/heads/theirs"] == tip


@pytest.mark.parametrize(("args", "error"), [
    (("--remote", "nowhere"), "has no remote 'nowhere'"),
    (("--remote", "fork", "--branch", "a..b"), "--branch 'a..b' is not a valid branch name"),
    (("--remote", "fork", "-v", "9"), "no recorded v9 of no-trim"),
])
def test_push_refuses_bad_input_with_one_line(gen_cli, clone, args, error):
    run = gen_cli("push", "--variant", "no-trim", "--xen", str(clone), *args)
    assert run.returncode == 1
    assert run.stderr.startswith("gen: error: ") and error in run.stderr.splitlines()[0]
    assert "Traceback" not in run.stderr


def test_push_needs_a_clone(gen_cli, tmp_path):
    """An unpacked tree has nowhere to record postings: a one-line error."""
    top = tmp_path / "unpacked"
    (top / "xen" / "common").mkdir(parents=True)
    (top / "xen" / "Makefile").write_text("export XEN_SUBVERSION = 17\n")
    run = gen_cli("push", "--variant", "no-trim", "--xen", str(top), "--remote", "fork")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (f"gen: error: --xen {top} is not a git clone: gen "
                                           "records postings only in a xen.git clone")
