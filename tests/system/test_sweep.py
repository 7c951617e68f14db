"""`gen sweep` on the one real tree CI has: a clone of Debian's 4.17.5,
tagged as its release, and a tag on a commit that moves an anchor.  The
sweep's harness step is gen check's, so after test_check.py it reuses the
runs of the same series (the other release lines are swept by hand; see
README, "Baselines checked")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import git
import pytest


@pytest.fixture(scope="module")
def clone(debian_tree, tmp_path_factory) -> Path:
    """Debian's tree as a clone tagged RELEASE-4.17.5, and RELEASE-4.17.99
    on a commit that renames vunmap(), the anchor of vmap-partial and
    xenheap-region."""
    top = tmp_path_factory.mktemp("sweep")
    repo = git.Repo.clone_from(str(debian_tree.repo), str(top / "xen"))
    repo.create_tag("RELEASE-4.17.5")
    vmap = top / "xen" / "xen" / "common" / "vmap.c"
    vmap.write_text(re.sub(r"^void vunmap\(", "void vunmap_renamed(", vmap.read_text(),
                           count=1, flags=re.M))
    repo.index.add([str(vmap)])
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Test").set_value("user", "email", "test@example.org")
    repo.index.commit("rename vunmap()")
    repo.create_tag("RELEASE-4.17.99")
    repo.git.checkout("-q", "RELEASE-4.17.5")
    return top / "xen"


def test_the_sweep_passes_the_release_and_names_the_moved_anchor(gen_cli, clone, tmp_path):
    out = tmp_path / "sweep"
    run = gen_cli("sweep", "--xen", str(clone), "--refs", "RELEASE-4.17.*", "-o", str(out))
    assert run.returncode == 1, run.stderr
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert [(r["ref"], r["variant"]) for r in rows] == [
        ("RELEASE-4.17.5", "split-vmap"), ("RELEASE-4.17.5", "no-trim"),
        ("RELEASE-4.17.99", "split-vmap"), ("RELEASE-4.17.99", "no-trim")]
    good, bad = rows[:2], rows[2:]
    for r in good:
        assert r["ok"] and r["features"] == "pass", r
        assert r["steps"] == {"gates": "pass", "apply": "pass", "harness": "pass",
                              "build": "-", "boot": "-"}, r
    for r in bad:
        assert not r["ok"] and r["features"] == "pass", r
        assert re.search(r"anchor function 'vunmap' not found in xen/common/vmap\.c",
                         r["steps"]["gates"]), r
        assert r["steps"]["apply"] == "-", r
    # The table: a row per ref and variant, the failure as a numbered note.
    table = run.stdout
    assert re.search(r"^RELEASE-4\.17\.5 +4\.17\.5 +pass +split-vmap +pass +pass +pass +- +-",
                     table, re.M), table
    assert re.search(r"^RELEASE-4\.17\.99 .* no-trim +FAIL\(2\) +- ", table, re.M), table
    assert re.search(r"^\(1\) RELEASE-4\.17\.99 split-vmap gates: .*anchor function 'vunmap'",
                     table, re.M), table
    assert table.rstrip().endswith("FAIL")
    assert table == (out / "sweep.txt").read_text()
    # The clone is read, never written: no refs/gen/ postings.
    assert not git.Repo(clone).git.for_each_ref("refs/gen")


def test_the_sweep_refuses_what_it_cannot_sweep(gen_cli, clone, debian_tree, tmp_path):
    none = gen_cli("sweep", "--xen", str(clone), "--refs", "RELEASE-9.*", "-o",
                   str(tmp_path / "a"))
    assert none.returncode == 1
    assert "no tag of" in none.stderr and "matches --refs 'RELEASE-9.*'" in none.stderr
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep").write_text("x")
    busy = gen_cli("sweep", "--xen", str(clone), "-o", str(theirs))
    assert busy.returncode == 1 and "holds no earlier sweep" in busy.stderr
    assert [p.name for p in theirs.iterdir()] == ["keep"]
