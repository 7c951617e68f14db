"""Golden tests of our own text only: every rendered hunk and message, and
the whole series generated from the synthetic fixture tree.

Regenerate after an intended change with GEN_UPDATE_GOLDEN=1 and review the
diff like any other change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from gen import baseline, pipeline, style, xentree
from gen.gitutil import Identity
from gen.pipeline import template_context
from gen.render import Renderer
from gen.series import NewFile, Variant
from gen.variants import SERIES, VMAP_PARTIAL

from ..conftest import FIXED_DATE, ROOT, TEST_EMAIL, TEST_NAME

GOLDEN = Path(__file__).resolve().parent / "data"
UPDATE = os.environ.get("GEN_UPDATE_GOLDEN") == "1"

def feature_sets() -> dict[str, dict[str, bool]]:
    """Each distinct feature set of the recorded release lines, named by
    the lines that have it ("4.17+4.18")."""
    named: dict[str, list[str]] = {}
    sets: dict[str, dict[str, bool]] = {}
    for line, features in baseline.RECORDED.items():
        key = repr(sorted(features.items()))
        named.setdefault(key, []).append(line)
        sets[key] = features
    return {"+".join(lines): sets[key] for key, lines in named.items()}


FEATURE_SETS = feature_sets()


def compare(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; run with GEN_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs"


def test_feature_sets_cover_every_probe():
    names = {f.name for f in baseline.FEATURES}
    assert all(set(fs) == names for fs in baseline.RECORDED.values())


def test_real_baseline_matches_its_recorded_features(xen_root):
    """The recorded set of the tree's line is what the tree has (Debian's
    4.17.5 in CI; staging with GEN_TEST_STAGING; every line in `gen sweep`)."""
    probed = baseline.probe(xen_root)
    assert probed.features == baseline.RECORDED[probed.line]


def rendered() -> dict[tuple[str, str], dict[tuple[str, str], str]]:
    """Every rendered message and hunk of every variant on every recorded
    feature set, each C hunk style-checked: {(slug, file): {(set, variant):
    text}}."""
    out: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for fs_name, features in FEATURE_SETS.items():
        base = baseline.Baseline((4, 99), "", features)
        for name, var in SERIES.items():
            patches = var.for_baseline(base)
            renderer = Renderer(template_context(var, base, patches))
            for n, patch in enumerate(patches, start=1):
                texts = {"message.txt": renderer.render(patch.message)}
                step = Renderer(template_context(var, base, patches, upto=n))
                for k, edit in enumerate(patch.edits, start=1):
                    if edit.template and edit.applies(base):
                        stem = Path(edit.template).name.removesuffix(".j2")
                        texts[f"{k}-{stem}"] = text = step.render(edit.template)
                        if edit.path.endswith((".c", ".h")):
                            # Each branch, on every line, to CODING_STYLE.
                            new = isinstance(edit, NewFile) and not edit.grows
                            assert not style.check(text, edit.path, new_file=new), \
                                (fs_name, name, edit.template)
                for file, text in texts.items():
                    out.setdefault((patch.slug, file), {})[fs_name, name] = text
    return out


def golden_path(slug: str, file: str, where: tuple[str, str],
                texts: dict[tuple[str, str], str]) -> Path:
    """One golden file per distinct text: hunks/<slug>/ when every feature
    set and variant renders it alike, hunks/<slug>/<variant>/ when the
    feature sets agree for that variant, hunks/<slug>/<set>/ when the
    variants agree on that set, else hunks/<slug>/<set>/<variant>/."""
    fs_name, variant = where
    root = GOLDEN / "hunks" / slug
    if len(set(texts.values())) == 1:
        return root / file
    if len({t for (_f, v), t in texts.items() if v == variant}) == 1:
        return root / variant / file
    if len({t for (f, _v), t in texts.items() if f == fs_name}) == 1:
        return root / fs_name / file
    return root / fs_name / variant / file


def test_rendered_hunks_and_messages():
    expected = set()
    for (slug, file), texts in rendered().items():
        for where, text in texts.items():
            path = golden_path(slug, file, where, texts)
            expected.add(path)
            compare(path, text)
    found = {p for p in (GOLDEN / "hunks").rglob("*") if p.is_file()}
    if UPDATE:
        for stale in found - expected:
            stale.unlink()
    else:
        assert found == expected, f"stale golden files: {sorted(found - expected)}"


def test_fixture_series(tmp_path, monkeypatch):
    """The whole output, formatting and addressing included, for a series
    of our first patch on the synthetic fixture tree.  Only our own text is
    golden: each file's envelope (From, Cc, To, Date, Subject) and the
    cover letter's and the patch's prose.  What git writes is checked for
    what it must do: the shortlog and diffstat are there, and the diff,
    applied to a copy of the fixture, gives exactly the tree we built."""
    fixture = ROOT / "tests" / "fixtures" / "minixen"
    monkeypatch.setenv("GIT_AUTHOR_NAME", TEST_NAME)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", TEST_EMAIL)
    variant = Variant("split-vmap", "fixture", "xen: a fixture series", (VMAP_PARTIAL,))
    files = pipeline.generate(pipeline.Request(
        variant=variant, xen=fixture, output=tmp_path / "out", date=FIXED_DATE,
        command="python -m gen --variant split-vmap --xen FIXTURE"))
    assert [f.name for f in files] == ["0000-cover-letter.patch",
                                       "0001-xen-vmap-allow-releasing-part-of-an-allocation.patch"]
    texts = [f.read_text().replace(str(fixture), "FIXTURE") for f in files]
    heads, bodies = zip(*(t.split("\n\n", 1) for t in texts), strict=True)
    compare(GOLDEN / "fixture" / "envelopes.txt", "\n\n".join(heads) + "\n")

    cover, rest = bodies[0].split(f"\n{TEST_NAME} (1):\n", 1)
    compare(GOLDEN / "fixture" / "cover.txt", cover)
    assert rest.startswith("  xen/vmap: allow releasing part of an allocation\n\n")
    assert re.search(r"^ 2 files changed, \d+ insertions\(\+\)$", rest, re.M)
    base = re.search(r"^base-commit: ([0-9a-f]{40})$", rest, re.M)
    assert base and f"commit {base.group(1)} (Xen 4.99-fixture)" in cover

    message, diff = bodies[1].split("\n---\n", 1)
    compare(GOLDEN / "fixture" / "message.txt", message)
    assert re.search(r"^ xen/common/vmap.c +\| +\d+ \+{10,}$", diff, re.M)
    copy = tmp_path / "copy"
    shutil.copytree(fixture, copy)
    subprocess.run(["git", "apply", "--whitespace=error-all", str(files[1])], cwd=copy,
                   check=True, capture_output=True)
    built = pipeline.build(variant, xentree.open_tree(fixture), tmp_path / "built",
                           Identity(TEST_NAME, TEST_EMAIL), FIXED_DATE)
    for rel in ("xen/common/vmap.c", "xen/include/xen/vmap.h"):
        assert (copy / rel).read_text() == (built.root / rel).read_text(), rel
    assert (copy / "xen/common/vmap.c").read_text() != (fixture / "xen/common/vmap.c").read_text()
    if not UPDATE:
        assert sorted(p.name for p in (GOLDEN / "fixture").iterdir()) == \
            ["cover.txt", "envelopes.txt", "message.txt"]
