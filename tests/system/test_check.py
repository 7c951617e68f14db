"""The validation ladder on a real tree: a real git am, real Xen builds after
every patch, real QEMU boots of a PV dom0.  Slow: minutes per variant."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gen import build
from gen.errors import GenError
from gen.variants import FIXES, VARIANTS

from ..conftest import FIXED_DATE, ROOT, Run, git_env


def xen_args(tree) -> list[str]:
    return [] if tree.kind == "debian" else ["--xen", str(tree.repo)]


def check_default(variant: str, xen_tree, tmp_path_factory) -> tuple[Run, dict, Path]:
    """`gen check` of variant with its default matrix."""
    tmp = tmp_path_factory.mktemp(f"check-{variant}")
    (tmp / "home").mkdir()
    res = subprocess.run([sys.executable, "-m", "gen", "check", "--variant", variant,
                          *xen_args(xen_tree), "-o", str(tmp / "out"), "--date", FIXED_DATE],
                         env=git_env(tmp / "home"), cwd=tmp, capture_output=True, text=True,
                         check=False)
    report = json.loads((tmp / "out" / f"{variant}.check.json").read_text())
    return Run(res.returncode, res.stdout, res.stderr), report, tmp


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def checked(request, xen_tree, tmp_path_factory):
    """`gen check` with its default matrix, once per xenheap variant."""
    return request.param, *check_default(request.param, xen_tree, tmp_path_factory)


def test_check_passes_with_the_default_matrix(checked, xen_tree):
    variant, run, report, tmp = checked
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert run.stdout.rstrip().endswith("PASS")
    assert report["ok"] is True
    steps = {s["name"]: s for s in report["steps"]}
    assert [s["name"] for s in report["steps"]] == ["gates", "apply", "harness", "build",
                                                     "boot"]
    assert all(s["status"] == "ok" for s in report["steps"])
    assert re.search(r"\d+ passed", steps["harness"]["detail"]), steps["harness"]
    patches = len(VARIANTS[variant].patches)
    # The series applies on top of the fixes, which check commits first.
    assert re.fullmatch(rf"git am: {patches} patches onto the {len(FIXES.patches)} patches of "
                        rf"the fixes series on [0-9a-f]{{12}}", steps["apply"]["detail"]), \
        steps["apply"]

    def points(arch: str, config: str) -> list[str]:
        return [b["point"] for b in report["builds"]
                if b["config"] == config and b["arch"] == arch]

    every = ["control"] + [f"{k}/{patches}" for k in range(1, patches + 1)]
    assert points("x86_64", "debug") == every
    assert points("x86_64", "release") == ["control", f"{patches}/{patches}"]
    # Arm64 builds the control, each patch that touches a file outside
    # xen/arch/x86/ (read here from the patch files), and the last patch.
    files = sorted(f for f in (tmp / "out" / variant).glob("*.patch")
                   if not f.name.startswith("0000-"))
    assert len(files) == patches
    common = [f"{k}/{patches}" for k, f in enumerate(files, start=1)
              if any(not path.startswith("xen/arch/x86/") for path in
                     re.findall(r"^diff --git a/(\S+)", f.read_text(), re.M))]
    assert 0 < len(common) < patches, common
    assert points("arm64", "debug") == \
        ["control", *sorted({*common, f"{patches}/{patches}"}, key=every.index)]
    assert points("arm64", "release") == ["control", f"{patches}/{patches}"]
    # The summary counts each patch built once, the last included.
    assert f"arm64: control and {len(points('arm64', 'debug')) - 1} of {patches} patches" \
        in steps["build"]["detail"], steps["build"]["detail"]
    arm = Path(next(b["log"] for b in report["builds"] if b["arch"] == "arm64")).read_text()
    assert "XEN_TARGET_ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-" in arm
    # A build is reused only from a kept build of the same source tree.
    for b in report["builds"]:
        label = b["config"] if b["arch"] == "x86_64" else f"{b['config']}, {b['arch']}"
        reused = Path(b["log"]).read_text().startswith(
            f"gen: reused the build of source tree {b['tree']} ({label})")
        assert reused == b["reused"], b
    names = {b["name"] for b in report["boots"]}
    for who in ("control", "series"):
        for cfg in ("debug", "release"):
            assert any(n.startswith(f"{who}-{cfg}") and "xpti" not in n for n in names)
            assert any(n.startswith(f"{who}-{cfg}-xpti") for n in names)
    # The series boots with its option off and on, and says which it is.
    x86 = [b for b in report["boots"] if b["arch"] == "x86_64"]
    series = [b for b in x86 if b["name"].startswith("series-")]
    on = [b for b in series if "xenheap-vmap=no" not in b["cmdline"]]
    off = [b for b in series if "xenheap-vmap=no" in b["cmdline"]]
    assert on and off
    for b in on:
        assert re.search(r"Xenheap on vmap: VA \S+", Path(b["log"]).read_text())
        assert re.search(r"Xenheap on vmap: \d+ pages in \d+ allocations",
                         Path(b["log"]).read_text())
    for b in off:
        assert "Xenheap on vmap: disabled" in Path(b["log"]).read_text()
    for b in x86:
        log = Path(b["log"]).read_text()
        assert b["ok"] and b["exit_code"] == 65
        assert "GEN-DOM0-MARKER" in log and "Building a PV Dom0" in log
        assert re.search(r"Brought up 2 CPUs", log)
        # Every boot ran the guest stage: 3 cycles of 3 guests, each guest
        # reported in on its console, and the counters came back.
        g = b["guests"]
        assert g["plan"]["guests"] == 3 and len(g["cycles"]) == 3, g
        assert len(re.findall(r"^GEN-GUESTS: cycle \d: 3 up, 2 shut down, 1 destroyed", log,
                              re.M)) == 3
        assert sorted(g["counters"]) == ["0", "1", "2", "3"] and g["counters"]["2"] == \
            g["counters"]["3"], g["counters"]
        vmap = [k for k in g["counters"]["3"] if k.startswith("xenheap-vmap")]
        assert bool(vmap) == (b in on), (b["name"], vmap)
    # Arm64: the control and the series, debug and release, each to dom0's
    # marker and a power-off that Xen turns into a halt (exit code 0).
    arm = [b for b in report["boots"] if b["arch"] == "arm64"]
    assert sorted(b["name"] for b in arm) == [f"{who}-{cfg}-arm64" for who in
                                              ("control", "series")
                                              for cfg in ("debug", "release")]
    for b in arm:
        log = Path(b["log"]).read_text()
        assert b["ok"] and b["exit_code"] == 0 and "guests" not in b, b
        assert "*** LOADING DOMAIN 0 ***" in log and "Brought up 2 CPUs" in log
        assert re.search(r"GEN-DOM0-MARKER: dom0 \S+-arm64 up", log)
        assert "(XEN) Hardware Dom0 halted: halting machine" in log
        assert "Xenheap on vmap" not in log
        assert re.search(r"debug=y" if "debug" in b["name"] else r"debug=n", log)
    assert re.search(r"; arm64: 4 boots with dom0 \S+-arm64 to the marker, without guests; "
                     r"its builds leave out what the series sets on x86 \(UNSUPPORTED, "
                     r"XENHEAP_VMAP\)", run.stdout), run.stdout
    # The second variant's control boots the same binaries with the same
    # dom0 as the first's, which passed: those boots are reused.
    if variant == sorted(VARIANTS)[-1]:
        control = [b for b in report["boots"] if b["name"].startswith("control-")]
        assert control and all(b["reused"] for b in control), control
    # The progress lines of long steps, and the summary table.
    # A build is announced, or said to be reused.
    assert re.search(r"^gen: build control \(debug\)(?: \.\.\.|: reused \(same source tree)",
                     run.stderr, re.M), run.stderr[-2000:]
    assert re.search(r"^boot +ok +\S+ +\d+ boots with dom0 \S+, each 3 cycles of 3 PV guests "
                     r"with counters flat over the last \(toolstack: Debian xen-utils-4\.17 ",
                     run.stdout, re.M) or xen_tree.kind != "debian"
    assert re.search(r"^series-debug-xpti-true-xenheap-vmap-on +pass +\S+ +3x3 guests in \S+, "
                     r"\S+, \S+ s per cycle; 5 counters flat over the last cycle$", run.stdout,
                     re.M), \
        run.stdout


def test_the_cover_letter_quotes_the_check_of_this_series_only(checked, xen_tree):
    """A series generated after the check, beside its report, says it was
    tested; the same series with one more trailer (another digest) does not."""
    variant, _, report, tmp = checked
    assert report["complete"] and report["digest"]

    def cover(*extra: str) -> str:
        res = subprocess.run([sys.executable, "-m", "gen", "--variant", variant,
                              *xen_args(xen_tree), "-o", "out", "--date", FIXED_DATE,
                              "--force", *extra],
                             env=git_env(tmp / "home"), cwd=tmp, capture_output=True,
                             text=True, check=False)
        assert res.returncode == 0, res.stderr
        return (tmp / "out" / variant / "0000-cover-letter.patch").read_text()

    said = " ".join(cover().split())
    assert "Tested with `gen check` on this baseline" in said
    assert "runs 3 cycles of 3 PV guests with a toolstack of the same release line" in said
    assert "(debug; release, arm64 release at the last patch; arm64 debug after each patch " \
           "that touches code they compile, and at the last)" in said
    assert "On other architectures, dom0 boots to its shell, without guests, in: " \
           "debug-arm64, release-arm64." in said
    # What the harness ran, without the path of the log on this machine.
    assert re.search(r"The userspace harness \(\d+ passed(, \d+ deselected)?\) runs", said)
    assert "domain destruction" not in cover()
    assert "Tested with" not in cover("--trailer", "Assisted-by: someone")


def test_check_of_the_fixes_series(xen_tree, tmp_path_factory):
    """The fixes series through the same ladder: each fix builds alone on
    x86 and on Arm64 (every one touches common code), the harness runs on
    the fixed tree (each fix's test among its suites), and dom0 boots with
    guests on x86 and to its marker on Arm64, with no boot option."""
    run, report, tmp = check_default("fixes", xen_tree, tmp_path_factory)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert report["ok"] is True and all(s["status"] == "ok" for s in report["steps"])
    harness = next(s for s in report["steps"] if s["name"] == "harness")
    assert re.search(r"\d+ passed", harness["detail"]), harness
    patches = len(FIXES.patches)
    every = ["control"] + [f"{k}/{patches}" for k in range(1, patches + 1)]
    # Independent patches: each also built alone on the baseline (the
    # first is, at 1/N).
    alone = [f"{k}/{patches} alone" for k in range(2, patches + 1)]
    for arch in ("x86_64", "arm64"):
        assert [b["point"] for b in report["builds"]
                if b["config"] == "debug" and b["arch"] == arch] == every + alone, arch
    trees = {b["point"]: b["tree"] for b in report["builds"]}
    for k in range(2, patches + 1):  # not the tree of patches 1..k
        assert trees[f"{k}/{patches} alone"] != trees[f"{k}/{patches}"], k
    for b in report["boots"]:
        log = Path(b["log"]).read_text()
        assert b["ok"] and "Xenheap on vmap" not in log, b["name"]
        assert "xenheap-vmap" not in b["name"] + b["cmdline"], b
        if b["arch"] == "x86_64":
            assert len(b["guests"]["cycles"]) == 3, b["name"]
    assert sorted(b["name"] for b in report["boots"] if b["arch"] == "arm64") == \
        [f"{who}-{cfg}-arm64" for who in ("control", "series") for cfg in ("debug", "release")]
    assert re.search(r"; arm64: 4 boots with dom0 \S+-arm64 to the marker, without guests"
                     r"(?:;|$)", run.stdout, re.M), run.stdout
    assert "its builds leave out" not in run.stdout
    # Generated beside the report, the series says what was tested, and
    # each patch carries its Fixes: tag.
    res = subprocess.run([sys.executable, "-m", "gen", "--variant", "fixes",
                          *xen_args(xen_tree), "-o", "out", "--date", FIXED_DATE, "--force"],
                         env=git_env(tmp / "home"), cwd=tmp, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    files = sorted((tmp / "out" / "fixes").glob("*.patch"))
    said = " ".join(files[0].read_text().split())
    assert "Tested with `gen check` on this baseline" in said
    assert "; and each patch alone on the baseline in debug, arm64 debug)" in said
    assert "Not covered by these tests" not in said and "direct map" not in said
    for f in files[1:]:
        assert re.search(r"^Fixes: [0-9a-f]{12} \(\"", f.read_text(), re.M), f.name


def tool_with(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of this tool in which, for each (template, old, new) of
    edits, the C template has `old`, found once, replaced by `new`; run it
    with PYTHONPATH set to the returned path."""
    tool = tmp_path / "tool"
    for part in ("gen", "templates", "c", "tests"):
        shutil.copytree(ROOT / part, tool / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tool)
    for template, old, new in edits:
        tpl = tool / "templates" / "c" / template
        text = tpl.read_text()
        assert text.count(old) == 1, (template, old)
        tpl.write_text(text.replace(old, new))
    return tool


def test_a_broken_hunk_stops_at_the_build_naming_patch_and_error(gen_cli, xen_tree, tmp_path):
    """A template of a hunk of x86's mm.c, which only the Xen build compiles
    (the harness does not), calls a function that does not exist: every
    gate passes (it parses), the harness passes, and the ladder stops at
    the build after that patch, naming it and quoting the compiler."""
    tool = tool_with(tmp_path, ("xenheap/perdomain.c.j2", "l1tab = __map_domain_page(pg);",
                                "l1tab = __map_domain_page_nowhere(pg);"))
    run = gen_cli("check", "--variant", "split-vmap", *xen_args(xen_tree), "-o", "out",
                  "--builds", "debug", "--arch", "x86_64", "--cmdline", "", "--date",
                  FIXED_DATE, env={"PYTHONPATH": str(tool)})
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "split-vmap.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["apply"]["status"] == "ok"
    assert steps["harness"]["status"] == "ok"
    assert steps["build"]["status"] == "failed"
    assert steps["boot"]["status"] == "not run"
    (broken,) = (tmp_path / "out" / "split-vmap").glob("*-x86-mm-don-t-assume-xenheap-*.patch")
    number = int(broken.name.split("-")[0])
    assert re.match(rf"patch {number}/\d+ 'x86/mm: don't assume xenheap memory is in the "
                    r"direct map' fails to build \(debug\)", steps["build"]["detail"])
    assert any("mm.c" in q and "error:" in q for q in steps["build"]["quote"])
    assert "__map_domain_page_nowhere" in run.stdout


def test_a_hunk_only_arm_rejects_stops_at_the_arm64_build(gen_cli, xen_tree, tmp_path):
    """Common code in vmap.c that uses an x86-only macro builds for x86 and
    not for Arm: the ladder stops at the arm64 build of that patch, names it
    and quotes the compiler, as Xen's CI would on the posting."""
    line = "    if ( !nr || PAGE_OFFSET(addr) )\n"
    tool = tool_with(tmp_path, ("vmap/vunmap_partial.c.j2", line,
                                "    BUILD_BUG_ON(L4_PAGETABLE_SHIFT != 39);\n\n" + line))
    run = gen_cli("check", "--variant", "split-vmap", *xen_args(xen_tree), "-o", "out",
                  "--builds", "debug", "--no-harness", "--cmdline", "", "--date", FIXED_DATE,
                  env={"PYTHONPATH": str(tool)})
    assert run.returncode == 1, run.stdout + run.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "split-vmap.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["apply"]["status"] == "ok"
    assert steps["build"]["status"] == "failed" and steps["boot"]["status"] == "not run"
    (broken,) = (tmp_path / "out" / "split-vmap").glob("*-xen-vmap-allow-releasing-*.patch")
    point = f"{int(broken.name.split('-')[0])}/"
    assert re.match(rf"patch {point}\d+ 'xen/vmap: allow releasing part of an allocation' "
                    r"fails to build \(debug, arm64\)", steps["build"]["detail"]), steps["build"]
    assert any("vmap.c" in q and "L4_PAGETABLE_SHIFT" in q for q in steps["build"]["quote"])
    # The same patch built for x86, and the ladder went no further.
    at = [(b["arch"], b["ok"]) for b in report["builds"] if b["point"].startswith(point)]
    assert at == [("x86_64", True), ("arm64", False)], at
    assert report["builds"][-1]["point"].startswith(point)


def test_a_fix_that_builds_only_after_another_stops_at_its_alone_build(gen_cli, xen_tree,
                                                                      tmp_path):
    """The fixes claim to stand alone.  Patch 2 made to use a macro that
    patch 1 defines builds in the series, and not alone on the baseline:
    the ladder stops there, naming the patch and quoting the compiler."""
    tool = tool_with(tmp_path,
                     ("xenheap/xrealloc-copy.c.j2", "curr_size -= ptr - p;",
                      "curr_size -= ptr - p;\n#define GEN_AFTER_PATCH_1 0"),
                     ("xenheap/xfree-check.c.j2", "if ( !is_xen_heap_page(pg) || !size )",
                      "if ( !is_xen_heap_page(pg) || !size || GEN_AFTER_PATCH_1 )"))
    run = gen_cli("check", "--variant", "fixes", *xen_args(xen_tree), "-o", "out",
                  "--builds", "debug", "--arch", "x86_64", "--no-harness", "--cmdline", "",
                  "--date", FIXED_DATE, env={"PYTHONPATH": str(tool)})
    assert run.returncode == 1, run.stdout + run.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "fixes.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["build"]["status"] == "failed" and steps["boot"]["status"] == "not run"
    n = len(FIXES.patches)
    assert steps["build"]["detail"].startswith(
        f"patch 2/{n} alone '{FIXES.patches[1].subject}' fails to build (debug)"), steps["build"]
    assert any("GEN_AFTER_PATCH_1" in q for q in steps["build"]["quote"]), steps["build"]
    # Every patch built in the series; the first alone build was the last.
    assert [(b["point"], b["ok"]) for b in report["builds"]] == \
        [("control", True), *((f"{k}/{n}", True) for k in range(1, n + 1)),
         (f"2/{n} alone", False)]


def test_patches_edited_after_generating_are_refused(gen_cli, xen_tree, tmp_path):
    """check applies only the code that its gates passed: a patch file
    edited by hand fails at apply, before anything is built."""
    run = gen_cli("--variant", "no-trim", *xen_args(xen_tree), "-o", "out", "--no-cc",
                  "--date", FIXED_DATE)
    assert run.returncode == 0, run.stderr
    (edited,) = (tmp_path / "out" / "no-trim").glob("*-x86-mm-don-t-assume-xenheap-*.patch")
    line = "+                l1tab = __map_domain_page(pg);\n"
    text = edited.read_text()
    assert line in text
    edited.write_text(text.replace(line, line.replace(";", ""), 1))
    run = gen_cli("check", "--variant", "no-trim", *xen_args(xen_tree), "-o", "out",
                  "--no-harness", "--no-bisect", "--builds", "debug", "--cmdline", "")
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "no-trim.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["gates"]["status"] == "ok"
    assert steps["apply"]["status"] == "failed"
    assert "are not the code that the gates passed" in steps["apply"]["detail"]
    assert steps["build"]["status"] == "not run" and report["builds"] == []


def test_a_cover_letter_that_names_other_prerequisites_is_refused(gen_cli, xen_tree,
                                                                  tmp_path):
    """check applies the fixes series first, as generated now, and holds
    the cover letter's prerequisite-patch-ids to it: a cover letter from
    an older fixes series fails at apply, before anything is built."""
    run = gen_cli("--variant", "split-vmap", *xen_args(xen_tree), "-o", "out", "--no-cc",
                  "--date", FIXED_DATE)
    assert run.returncode == 0, run.stderr
    cover = tmp_path / "out" / "split-vmap" / "0000-cover-letter.patch"
    text = cover.read_text()
    ids = re.findall(r"^prerequisite-patch-id: [0-9a-f]{40}\n", text, re.M)
    assert len(ids) == len(FIXES.patches)
    cover.write_text(text.replace(ids[-1], ""))
    run = gen_cli("check", "--variant", "split-vmap", *xen_args(xen_tree), "-o", "out",
                  "--no-harness", "--no-bisect", "--builds", "debug", "--cmdline", "")
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "split-vmap.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["gates"]["status"] == "ok" and steps["apply"]["status"] == "failed"
    assert steps["apply"]["detail"].startswith(
        f"0000-cover-letter.patch names {len(ids) - 1} prerequisite patches, but the fixes "
        f"series it applies on top of has {len(ids)}"), steps["apply"]
    assert steps["build"]["status"] == "not run" and report["builds"] == []


def test_a_boot_failure_is_reported_with_the_log(gen_cli, xen_tree, tmp_path):
    """One configuration, the control and the last patch only, no harness:
    what is under test is how the ladder reports a boot."""
    run = gen_cli("check", "--variant", "split-vmap", *xen_args(xen_tree), "-o", "out",
                  "--date", FIXED_DATE, "--builds", "debug", "--arch", "x86_64", "--no-control",
                  "--no-harness", "--no-bisect", "--cmdline", "dom0_mem=1M,max:1M")
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "split-vmap.check.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["harness"]["status"] == "skipped"
    n = len(VARIANTS["split-vmap"].patches)
    assert [b["point"] for b in report["builds"]] == ["control", f"{n}/{n}"]
    boot = steps["boot"]
    assert boot["status"] == "failed"
    assert re.search(r"boot series-debug.* failed: panic: Panic on CPU 0", boot["detail"])
    assert len(boot["quote"]) == 40
    assert any("Domain 0 allocation is too small" in q for q in boot["quote"])
    assert "Domain 0 allocation is too small" in run.stdout
    failed = [b for b in report["boots"] if not b["ok"]]
    assert failed and Path(failed[0]["log"]).is_file()


def test_a_hung_boot_is_reported_with_a_dump_of_every_cpu(gen_cli, xen_tree, tmp_path):
    """A boot that outlives --timeout (here: any boot, given 3 s) is a
    timeout; Xen's 'd' debug key dumps every CPU into the log first, and
    the quote shows where it stopped, not the dump."""
    run = gen_cli("check", "--variant", "split-vmap", *xen_args(xen_tree), "-o", "out",
                  "--date", FIXED_DATE, "--builds", "release", "--arch", "x86_64",
                  "--no-control", "--no-harness", "--no-bisect", "--cmdline", "", "--timeout",
                  "3")
    assert run.returncode == 1
    report = json.loads((tmp_path / "out" / "split-vmap.check.json").read_text())
    boot = {s["name"]: s for s in report["steps"]}["boot"]
    assert re.search(r"failed: timeout after 3s; Xen's 'd' dump", boot["detail"]), boot
    assert not any("pressed -> dumping" in q for q in boot["quote"])
    failed = next(b for b in report["boots"] if not b["ok"])
    log = Path(failed["log"]).read_text()
    assert "'d' pressed -> dumping registers" in log
    assert re.search(r"\*\*\* Dumping CPU0 (host|guest) state", log)


def test_a_missing_tool_names_the_fix():
    with pytest.raises(GenError, match="missing tools: no-such-package") as e:
        build.require_tools({"no-such-tool-xyz": "no-such-package", "sh": "dash"})
    assert "install-deps" in e.value.hint
