"""Bad input: a clear one-line error naming the cause, a non-zero exit, and
nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest

from gen import pipeline, render
from gen.errors import AnchorError, StyleError
from gen.gitutil import Identity
from gen.series import InsertAfter, Patch, Replace, Variant, fn

from ..conftest import FIXED_DATE


@pytest.fixture
def clone(debian_tree, tmp_path) -> git.Repo:
    """A throw-away clone of the Debian tree, for breaking on purpose."""
    repo = git.Repo.clone_from(str(debian_tree.repo), str(tmp_path / "xen"), shared=True)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.org")
    return repo


def edit_file(repo: git.Repo, rel: str, old: str, new: str, commit: bool = True) -> None:
    path = Path(repo.working_tree_dir) / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    if commit:
        repo.git.commit("-qam", f"break {rel}")


def assert_clean_failure(run, tmp_path: Path, pattern: str) -> None:
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("gen: error:")]
    assert len(errors) == 1, run.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists(), "output left behind"


def test_no_tree(gen_cli, tmp_path):
    run = gen_cli("--variant", "split-vmap", "--xen", "/nonexistent", "-o", "out")
    assert_clean_failure(run, tmp_path, r"Xen tree not found: /nonexistent$")


def test_not_a_xen_tree(gen_cli, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "README").write_text("not xen\n")
    run = gen_cli("--variant", "split-vmap", "--xen", str(tmp_path / "junk"), "-o", "out")
    assert_clean_failure(run, tmp_path, r"not a Xen source tree .*junk$")


def test_xen_subdirectory_gets_a_hint(gen_cli, clone, tmp_path):
    run = gen_cli("--variant", "split-vmap", "--xen", str(Path(clone.working_tree_dir) / "xen"),
                  "-o", "out")
    assert_clean_failure(run, tmp_path, r"not a Xen source tree")
    assert "hint: pass the top of the tree" in run.stderr


def test_dirty_tree(gen_cli, clone, tmp_path):
    edit_file(clone, "xen/common/vmap.c", "vm_lock", "vm_lock2", commit=False)
    run = gen_cli("--variant", "split-vmap", "--xen", clone.working_tree_dir, "-o", "out")
    assert_clean_failure(run, tmp_path, r"uncommitted changes: .* \(xen/common/vmap.c\)$")


def test_unsupported_version(gen_cli, clone, tmp_path):
    edit_file(clone, "xen/Makefile", "XEN_SUBVERSION    = 17", "XEN_SUBVERSION    = 16")
    run = gen_cli("--variant", "split-vmap", "--xen", clone.working_tree_dir, "-o", "out")
    assert_clean_failure(run, tmp_path, r"unsupported Xen version 4\.16\.5: need 4\.17")


def test_moved_anchor(gen_cli, clone, tmp_path):
    edit_file(clone, "xen/common/vmap.c", "void vunmap(const void *va)\n{",
              "void vunmap_all(const void *va)\n{")
    run = gen_cli("--variant", "split-vmap", "--xen", clone.working_tree_dir, "-o", "out")
    assert_clean_failure(run, tmp_path,
                         r"anchor function 'vunmap' not found in xen/common/vmap.c")
    assert "hint: the tree has the features recorded for Xen 4.17, but its code has moved" \
        in run.stderr


def test_a_tree_between_the_recorded_lines_is_named_by_its_features(gen_cli, clone, tmp_path):
    """virt_to_page() renamed as in 4.21, virt_to_maddr() not (as in 4.17):
    the first anchor that fails is named, and the hint says which feature
    sets the tree apart from the nearest recorded line."""
    edit_file(clone, "xen/arch/x86/include/asm/mm.h",
              "static inline struct page_info *__virt_to_page(const void *v)",
              "static inline struct page_info *virt_to_page_inline(const void *v)")
    run = gen_cli("--variant", "split-vmap", "--xen", clone.working_tree_dir, "-o", "out")
    assert_clean_failure(run, tmp_path, r"anchor function 'virt_to_page' not found in "
                                        r"xen/arch/x86/include/asm/mm\.h")
    assert ("hint: the tree's features match no supported release line; the nearest, 4.17, "
            "differs in x86_page_conv_underscored=False") in run.stderr


def test_unknown_variant(gen_cli, tmp_path):
    run = gen_cli("--variant", "nope", "-o", "out")
    assert_clean_failure(run, tmp_path, r"unknown variant 'nope'")
    assert "split-vmap" in run.stderr


@pytest.mark.parametrize("option,value,pattern", [
    ("--arch", "x86_64,riscv64", r"unknown architecture: riscv64"),
    ("--arch", ",", r"unknown architecture: \(none\)"),
    ("--builds", "debug,fast", r"unknown build configuration: fast"),
])
def test_unknown_check_matrix(gen_cli, tmp_path, option, value, pattern):
    run = gen_cli("check", "--variant", "split-vmap", "-o", "out", option, value)
    assert_clean_failure(run, tmp_path, pattern)
    assert "gen: hint: choose from" in run.stderr


def test_existing_output_is_refused_then_forced(gen_cli, tmp_path):
    dest = tmp_path / "out" / "split-vmap"
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("keep me\n")
    run = gen_cli("--variant", "split-vmap", "-o", "out")
    assert run.returncode == 1
    assert "output directory already exists" in run.stderr
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    run = gen_cli("--variant", "split-vmap", "-o", "out", "--force", "--date", FIXED_DATE)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in dest.iterdir())[0] == "0000-cover-letter.patch"
    assert not (dest / "mine.txt").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["split-vmap"]


def test_bad_trailer_and_reroll(gen_cli, tmp_path):
    run = gen_cli("--variant", "split-vmap", "-o", "out", "--trailer", "no colon here")
    assert_clean_failure(run, tmp_path, r"bad trailer 'no colon here'")
    run = gen_cli("--variant", "split-vmap", "-o", "out", "-v", "0")
    assert_clean_failure(run, tmp_path, r"--reroll-count must be 1 or more")


def test_changelog_naming_an_unknown_patch(gen_cli, tmp_path):
    log = tmp_path / "log"
    log.write_text("v2:\n[no-such-patch]\n- x\n")
    run = gen_cli("--variant", "split-vmap", "-o", "out", "-v", "2", "--changelog", str(log))
    assert_clean_failure(run, tmp_path, r"v2 names unknown patches: no-such-patch")


# The generator's own gates, fed a broken variant through the real pipeline.

def broken_variant(template: str, edit_cls=InsertAfter, **kw) -> Variant:
    patch = Patch(slug="broken", subject="xen/vmap: broken on purpose",
                  message="msg/vmap-partial.txt.j2",
                  edits=(edit_cls(path="xen/common/vmap.c", template=template, **kw),))
    return Variant("broken", "a test", "xen: broken", (patch,))


def test_style_violation_stops_generation_with_file_and_line(debian_tree, tmp_path,
                                                             monkeypatch):
    templates = tmp_path / "templates"
    (templates / "msg").mkdir(parents=True)
    (templates / "msg" / "vmap-partial.txt.j2").write_text("Why.\n")
    (templates / "bad.c.j2").write_text("void f(void)\n{\n    if (x)\n        g();\n}\n")
    monkeypatch.setattr(render, "TEMPLATES", templates)
    variant = broken_variant("bad.c.j2", anchor=fn("vunmap"))
    with pytest.raises(StyleError, match=r"xen/common/vmap\.c:\d+: control-space"):
        pipeline.build(variant, debian_tree, tmp_path / "s",
                       Identity("t", "t@example.org"), FIXED_DATE)


def test_reshaped_anchor_is_reported(debian_tree, tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    (templates / "msg").mkdir(parents=True)
    (templates / "msg" / "vmap-partial.txt.j2").write_text("Why.\n")
    (templates / "f.c.j2").write_text("void vunmap(const void *va)\n{\n}\n")
    monkeypatch.setattr(render, "TEMPLATES", templates)
    variant = broken_variant("f.c.j2", Replace, anchor=fn("vunmap"),
                             shape=r"vunmap\(const void \*va, unsigned int nr\)")
    with pytest.raises(AnchorError, match=r"function 'vunmap' in xen/common/vmap.c has "
                                          r"changed shape: .* found 'void vunmap\("):
        pipeline.build(variant, debian_tree, tmp_path / "s",
                       Identity("t", "t@example.org"), FIXED_DATE)
