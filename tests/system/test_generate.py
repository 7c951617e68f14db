"""Generate the series from a real Xen tree, as a user would, and check what
xen-devel's tools and reviewers check."""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from gen import publish
from gen.variants import SERIES, VARIANTS

from ..conftest import FIXED_DATE, TEST_EMAIL, TEST_NAME, git_env


def xen_args(tree) -> list[str]:
    return [] if tree.kind == "debian" else ["--xen", str(tree.repo)]


_generated: dict[str, tuple[str, Path, list[Path]]] = {}


def generate(variant: str, xen_tree, tmp_path_factory) -> tuple[str, Path, list[Path]]:
    """The series of that name generated with fixed dates, once per run."""
    if variant not in _generated:
        tmp = tmp_path_factory.mktemp(f"series-{variant}")
        home = tmp / "home"
        home.mkdir()
        out = tmp / "out"
        res = subprocess.run([sys.executable, "-m", "gen", "--variant", variant,
                              *xen_args(xen_tree), "-o", str(out), "--date", FIXED_DATE],
                             env=git_env(home), cwd=tmp, capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0, res.stderr
        files = [Path(line) for line in res.stdout.split()]
        assert files and all(f.is_file() for f in files)
        _generated[variant] = variant, out / variant, files
    return _generated[variant]


@pytest.fixture(scope="module", params=sorted(SERIES))
def series(request, xen_tree, tmp_path_factory):
    """One generated series per variant, the fixes series too, with fixed
    dates."""
    return generate(request.param, xen_tree, tmp_path_factory)


def patches_only(files: list[Path]) -> list[Path]:
    return [f for f in files if not f.name.endswith("0000-cover-letter.patch")]


def test_layout(series):
    _variant, dest, files = series
    names = [f.name for f in files]
    assert names[0] == "0000-cover-letter.patch"
    assert [n[:5] for n in names[1:]] == [f"{k:04d}-" for k in range(1, len(names))]
    assert sorted(p.name for p in dest.iterdir()) == names
    assert not list(dest.parent.glob(".*tmp*")), "staging directory left behind"


def test_generating_twice_is_byte_identical(series, gen_cli, xen_tree, tmp_path):
    variant, dest, files = series
    run = gen_cli("--variant", variant, *xen_args(xen_tree), "-o", str(tmp_path / "again"),
                  "--date", FIXED_DATE)
    assert run.returncode == 0, run.stderr
    again = tmp_path / "again" / variant
    _match, mismatch, errors = filecmp.cmpfiles(dest, again, [f.name for f in files],
                                               shallow=False)
    # The cover letter quotes the command line, whose -o differs.
    assert mismatch in ([], ["0000-cover-letter.patch"]) and not errors
    cover_a = files[0].read_text().replace(str(dest.parent), "OUT")
    cover_b = (again / files[0].name).read_text().replace(str(tmp_path / "again"), "OUT")
    assert cover_a == cover_b


def applied(xen_tree, files: list[Path], dest: Path, *before: list[Path]) -> git.Repo:
    """A fresh clone at the baseline with the series in files applied,
    after the prerequisite series in before, as a maintainer applies them."""
    fresh = git.Repo.clone_from(str(xen_tree.repo), str(dest), no_checkout=True)
    fresh.git.checkout("-q", xen_tree.baseline)
    for series_files in (*before, files):
        fresh.git.am("-q", "--whitespace=error-all", *map(str, patches_only(series_files)),
                     env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"})
    return fresh


def prerequisite(variant: str, xen_tree, tmp_path_factory) -> list[list[Path]]:
    """The files of the series that variant applies on top of, if any."""
    pre = SERIES[variant].prerequisite
    return [generate(pre.name, xen_tree, tmp_path_factory)[2]] if pre else []


def test_git_am_applies_cleanly_on_a_fresh_baseline(series, xen_tree, tmp_path,
                                                    tmp_path_factory):
    variant, _dest, files = series
    before = prerequisite(variant, xen_tree, tmp_path_factory)
    fresh = applied(xen_tree, files, tmp_path / "fresh", *before)
    subjects = fresh.git.log("--format=%s", f"{xen_tree.baseline}..HEAD").splitlines()
    assert len(subjects) == sum(len(f) - 1 for f in (*before, files))
    assert not fresh.is_dirty()


@pytest.mark.parametrize("series", sorted(VARIANTS), indirect=True)
def test_the_cover_letter_names_the_fixes_as_prerequisite(series, xen_tree, tmp_path_factory):
    """The xenheap series applies on top of the fixes series: its cover
    letter names it by title and subjects, and git format-patch --base's
    prerequisite-patch-id lines are the fixes series' own patches, as
    generated on their own, in order."""
    variant, _dest, files = series
    (fixes,) = prerequisite(variant, xen_tree, tmp_path_factory)
    assert SERIES[variant].prerequisite is SERIES["fixes"]
    cover = files[0].read_text()
    ids = [subprocess.run(["git", "patch-id", "--stable"], input=f.read_bytes(),
                          capture_output=True, check=True).stdout.split()[0].decode()
           for f in patches_only(fixes)]
    assert re.findall(r"^prerequisite-patch-id: ([0-9a-f]{40})$", cover, re.M) == ids
    assert cover.index(f"base-commit: {xen_tree.baseline}") < \
        cover.index("prerequisite-patch-id:")
    prose = " ".join(cover.split())
    assert f'It applies on top of "{SERIES["fixes"].title}", {len(ids)} independent' in prose
    for p in SERIES["fixes"].patches:
        assert f"\n  {p.subject}\n" in cover
        assert all(p.subject not in f.read_text() for f in patches_only(files))


@pytest.mark.parametrize("series", sorted(VARIANTS), indirect=True)
def test_the_arrays_are_set_up_once_the_domheap_works(series, xen_tree, tmp_path,
                                                      tmp_path_factory):
    """xenheap_vmap_init() allocates from the domheap, so in __start_xen()
    it must come after every end_boot_allocator() and vm_init() (staging
    runs vm_init() early), as the tree's own code orders them."""
    variant, _dest, files = series
    fresh = applied(xen_tree, files, tmp_path / "fresh",
                    *prerequisite(variant, xen_tree, tmp_path_factory))
    src = (Path(fresh.working_tree_dir) / "xen/arch/x86/setup.c").read_text()
    body = src[src.index("noreturn __start_xen("):]
    init = body.index("xenheap_vmap_init();")
    for call in ("end_boot_allocator();", "vm_init();"):
        assert body.rindex(call, 0, init) < init and call not in body[init:], call


def test_add_maintainers_pl_leaves_the_series_unchanged(series, xen_root, tmp_path):
    _variant, dest, files = series
    script = xen_root / "scripts" / "add_maintainers.pl"
    if not script.is_file():
        pytest.skip("tree has no add_maintainers.pl")
    copy = tmp_path / "copy"
    shutil.copytree(dest, copy)
    res = subprocess.run(["perl", str(script), "-d", str(copy)], cwd=xen_root,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    for f in files:
        assert (copy / f.name).read_text() == f.read_text(), f.name


def test_messages_follow_xen_devel_rules(series, xen_tree):
    variant, _dest, files = series
    for f in patches_only(files):
        text = f.read_text()
        subject = re.search(r"^Subject: \[PATCH \d+/\d+\] (.*(?:\n .*)*)$", text, re.M)
        assert subject, f.name
        subj = subject.group(1).replace("\n ", " ")
        body = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
        assert publish.message_problems(subj, body) == [], f.name
        assert "Signed-off-by" not in body, "no sign-off unless asked"
        assert re.search(r"^Cc: .+@.+$", text, re.M), f"{f.name} has no Cc"
        assert "To: xen-devel@lists.xenproject.org" in text
        if variant == "fixes":
            fixes = re.search(r'^Fixes: ([0-9a-f]{12}) \("(.+)"\)$', body, re.M)
            assert fixes, f"{f.name} has no Fixes: tag"
            if xen_tree.kind == "clone":  # Debian's source has no history
                named = git.Repo(xen_tree.repo).git.log("-1", "--format=%s", fixes.group(1))
                assert named == fixes.group(2), f.name


def test_cover_letter_says_what_and_how(series, xen_tree):
    variant, _dest, files = series
    cover = files[0].read_text()
    assert "*** SUBJECT HERE ***" not in cover and "*** BLURB HERE ***" not in cover
    if variant in VARIANTS:
        assert f"This is the {variant} variant" in cover
    else:
        assert "Each patch stands on its own, names the\ncommit that introduced its bug" in cover
    assert "xen-directmap-gen" in cover
    assert f"python -m gen --variant {variant}" in cover
    assert f"base-commit: {xen_tree.baseline}" in cover
    assert xen_tree.baseline in cover.split("base-commit:")[0]
    assert f"From: {TEST_NAME} <{TEST_EMAIL}>" in cover


def test_signoff_trailers_reroll_and_changelog(gen_cli, xen_tree, tmp_path):
    log = tmp_path / "changes"
    log.write_text("v2:\n- Rebased.\n[vmap-partial]\n- Refuse the bitmap's own pages.\n"
                   "  Second line.\n")
    run = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", str(tmp_path / "o"),
                  "--date", FIXED_DATE, "-v", "2", "--changelog", str(log), "--signoff",
                  "--trailer", "Reviewed-by: R <r@example.org>",
                  "--trailer", "Assisted-by: Some Tool")
    assert run.returncode == 0, run.stderr
    dest = tmp_path / "o" / "split-vmap"
    cover = (dest / "v2-0000-cover-letter.patch").read_text()
    assert re.search(r"^Subject: \[PATCH v2 0+/\d+\]", cover, re.M), cover[:600]
    assert ("Changes in v2:\n- Rebased.\n- xen/vmap: allow releasing part of an "
            "allocation:\n  - Refuse the bitmap's own pages.\n    Second line.\n") in cover
    (first,) = dest.glob("v2-*-xen-vmap-allow-releasing-part-of-an-allocation.patch")
    text = first.read_text()
    # Xen's tag order, whatever order they were given in.
    assert ("\nAssisted-by: Some Tool\nSigned-off-by: Test Developer "
            "<test.developer@example.org>\nReviewed-by: R <r@example.org>\n---\n"
            "Changes in v2:\n- Refuse the bitmap's own pages.\n  Second line.\n\n") in text


def send_email_dry_run(files: list[Path], home: Path) -> str:
    """What `git send-email --dry-run` would send: it parses every file,
    threads the series and sends nothing."""
    env = {**git_env(home), "GIT_AUTHOR_NAME": TEST_NAME, "GIT_AUTHOR_EMAIL": TEST_EMAIL,
           "GIT_COMMITTER_NAME": TEST_NAME, "GIT_COMMITTER_EMAIL": TEST_EMAIL}
    res = subprocess.run(["git", "send-email", "--dry-run", "--confirm=never",
                          "--suppress-cc=all", "--smtp-server=/bin/true",
                          f"--from={TEST_NAME} <{TEST_EMAIL}>", *map(str, files)],
                         env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr + res.stdout
    assert res.stdout.count("Dry-OK") == len(files), res.stdout
    return res.stdout


def test_git_send_email_takes_the_series(series, tmp_path):
    _variant, _dest, files = series
    (tmp_path / "home").mkdir()
    out = send_email_dry_run(files, tmp_path / "home")
    # The patches thread under the cover letter, which replies to nothing.
    replies = re.findall(r"^In-Reply-To: (\S+)$", out, re.M)
    assert len(replies) == len(files) - 1 and len(set(replies)) == 1, out


def test_in_reply_to_the_previous_version(gen_cli, xen_tree, tmp_path):
    """-v 2 --in-reply-to: the cover letter replies to v1's and links to it
    on lore; the patches reply to the new cover letter, as b4 sends them."""
    run = gen_cli("--variant", "no-trim", *xen_args(xen_tree), "-o", str(tmp_path / "o"),
                  "--date", FIXED_DATE, "-v", "2", "--no-cc",
                  "--in-reply-to", "<20260101000000.1-1-v1@example.org>")
    assert run.returncode == 0, run.stderr
    files = [Path(line) for line in run.stdout.split()]
    cover = files[0].read_text()
    head = cover[:cover.index("\n\n")]
    assert "\nIn-Reply-To: <20260101000000.1-1-v1@example.org>\n" in head + "\n"
    assert "\nReferences: <20260101000000.1-1-v1@example.org>\n" in head + "\n"
    assert ("Previous version:\nhttps://lore.kernel.org/xen-devel/"
            "20260101000000.1-1-v1@example.org/\n") in cover
    assert all("In-Reply-To" not in f.read_text() for f in files[1:])
    out = send_email_dry_run(files, tmp_path / "home")
    replies = re.findall(r"^In-Reply-To: (\S+)$", out, re.M)
    assert replies[0] == "<20260101000000.1-1-v1@example.org>", out
    assert len(set(replies[1:])) == 1 and replies[1] != replies[0], out


def test_without_identity_no_signoff_and_a_placeholder(gen_cli, xen_tree, tmp_path):
    run = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", str(tmp_path / "o"),
                  "--signoff", identity=False)
    assert run.returncode == 1
    assert "--signoff needs your git identity" in run.stderr
    assert not (tmp_path / "o").exists()
    run = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", str(tmp_path / "o"),
                  identity=False)
    assert run.returncode == 0, run.stderr
    assert "placeholder author" in run.stderr
    for f in (tmp_path / "o" / "split-vmap").iterdir():
        text = f.read_text()
        assert "From: Unset Author <unset-author@invalid>" in text
        assert "Signed-off-by" not in text


def test_user_config_does_not_leak(gen_cli, xen_tree, tmp_path):
    """format.* and diff.* settings of the user must not change the output."""
    base = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", str(tmp_path / "a"),
                   "--date", FIXED_DATE)
    assert base.returncode == 0, base.stderr
    cfg = tmp_path / "home" / "gitconfig"
    cfg.write_text(cfg.read_text() + "[format]\n\tsignature = leak\n\tthread = deep\n"
                   "\tnumbered = false\n\tsubjectPrefix = LEAK\n[diff]\n\tnoprefix = true\n"
                   "\tmnemonicPrefix = true\n\talgorithm = patience\n")
    run = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", str(tmp_path / "b"),
                  "--date", FIXED_DATE)
    assert run.returncode == 0, run.stderr
    for f in (tmp_path / "a" / "split-vmap").iterdir():
        if "cover-letter" in f.name:
            continue
        assert f.read_text() == (tmp_path / "b" / "split-vmap" / f.name).read_text()
