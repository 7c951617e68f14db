"""`python -m gen bench --quick` on the real Debian tree and the real
harness: the table, the raw numbers, the plots, and the table in the
cover letter of a series generated afterwards."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gen.bench import Result
from gen.variants import VARIANTS

from ..conftest import FIXED_DATE, ROOT, git_env

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TREES = ("upstream", *VARIANTS)


@dataclasses.dataclass
class Bench:
    tmp: Path
    env: dict[str, str]
    out: Path
    stdout: str
    data: dict

    def results(self, variant: str) -> list[dict]:
        return [r for r in self.data["results"] if r["variant"] == variant]


def gen(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gen", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Bench:
    tmp = tmp_path_factory.mktemp("bench")
    (tmp / "home").mkdir()
    env = git_env(tmp / "home")
    env["GEN_BENCH_DIR"] = str(tmp / "tables")
    out = tmp / "results"
    res = gen(tmp, env, "bench", "--quick", "-o", str(out),
              "--traces", str(ROOT / "bench" / "traces"))
    assert res.returncode == 0, res.stderr
    return Bench(tmp, env, out, res.stdout, json.loads((out / "bench.json").read_text()))


def test_table_is_printed_and_written(bench):
    text = (bench.out / "bench.txt").read_text()
    assert bench.stdout == text
    assert "How much is wasted?" in text
    assert max(map(len, text.splitlines())) <= 72
    for w in bench.data["workloads"]:
        assert any(line.startswith(w["name"] + " ") for line in text.splitlines()), w


def test_every_tree_has_every_metric_on_every_workload(bench):
    names = {w["name"] for w in bench.data["workloads"]}
    assert any(n.startswith("boot-") for n in names)
    assert {"uniform", "log-uniform", "2^k+1", "hypercall", "page-pairs", "lifetimes"} <= names
    fields = {f.name for f in dataclasses.fields(Result)}
    for tree in TREES:
        rows = bench.results(tree)
        assert {r["workload"] for r in rows} == names, tree
        for r in rows:
            assert set(r) == fields


# Workloads whose allocations are each freed at once: nothing is live at
# the end, and small ones are served by the pool page that the set-up left.
PAIRS = ("hypercall", "page-pairs")


def test_split_vmap_holds_exactly_the_floor(bench):
    for r in bench.results("split-vmap"):
        assert r["held_end"] == r["floor_end"], r
        if r["workload"] == "hypercall":
            # Upstream takes a pool page for the first block; with
            # xmalloc-spare the page the set-up emptied serves it.
            assert r["held_peak"] == 0 < r["floor_peak"], r
            continue
        assert r["held_peak"] == r["floor_peak"], r
        assert (r["floor_end"] > 0) == (r["workload"] not in PAIRS), r


def test_no_trim_holds_at_least_the_floor_and_more_on_2k_plus_1(bench):
    for r in bench.results("no-trim"):
        assert r["held_end"] >= r["floor_end"], r
        if r["workload"] != "hypercall":
            assert r["held_peak"] >= r["floor_peak"], r
    adv = next(r for r in bench.results("no-trim") if r["workload"] == "2^k+1")
    assert adv["held_end"] > adv["floor_end"]


def test_only_the_variants_use_vmap(bench):
    assert all(r["va_pages"] == 0 for r in bench.results("upstream"))
    for tree in VARIANTS:
        for r in bench.results(tree):
            if r["workload"] in PAIRS:
                assert r["va_pages"] == 0, r  # all freed
            else:
                # Every page held is mapped in vmap, plus a guard page each.
                assert r["va_pages"] > r["held_end"], r
            assert (r["pte_writes_per_op"] > 0) == (r["workload"] != "hypercall"), r


def test_flushes(bench):
    """Upstream's xenheap is in the direct map: no flush.  On vmap, a
    short-lived small xmalloc() reuses the spare pool page, so it maps and
    unmaps nothing; a whole-page one maps and unmaps its block, so every
    xfree() flushes: split-vmap once per range, of the whole TLB for more
    than a page; no-trim through vunmap(), once per page."""
    assert all(r["tlb_flushes_per_op"] == 0 for r in bench.results("upstream"))
    for tree in VARIANTS:
        rows = {r["workload"]: r for r in bench.results(tree)}
        assert rows["hypercall"]["tlb_flushes_per_op"] == 0, rows["hypercall"]
        pages = rows["page-pairs"]
        assert pages["tlb_flushes_per_op"] >= 0.5, pages
        if tree == "split-vmap":
            assert 0 < pages["full_flushes_per_op"] <= pages["tlb_flushes_per_op"], pages
        else:
            assert pages["full_flushes_per_op"] == 0, pages
    split = {r["workload"]: r for r in bench.results("split-vmap")}
    trim = {r["workload"]: r for r in bench.results("no-trim")}
    for name in ("page-pairs", "uniform", "log-uniform", "2^k+1", "lifetimes"):
        assert split[name]["tlb_flushes_per_op"] < trim[name]["tlb_flushes_per_op"], name
    text = (bench.out / "bench.txt").read_text()
    assert "TLB flushes per xmalloc()/xfree()" in text


def test_per_guest_costs_of_a_running_host(bench):
    """The guest traces (boot, then cycles of PV guests): every tree holds
    at least upstream's xenheap pages per guest, and keeps no more after
    the last cycle than upstream does; on vmap each page costs VA with a
    guard, PTE writes and flushes, which upstream's direct map does not;
    split-vmap wastes nothing."""
    rows = bench.data["guests"]
    traces = {r["workload"] for r in rows}
    assert {"guests-2x1", "guests-2x4", "guests-4x1", "guests-4x4"} <= traces
    for name in traces:
        got = {r["variant"]: r for r in rows if r["workload"] == name}
        assert set(got) == set(TREES), name
        up = got["upstream"]
        assert up["held_per_guest"] > 0 and up["va_per_guest"] == 0, up
        assert up["pte_writes_per_guest"] == up["tlb_flushes_per_guest"] == 0, up
        for tree in VARIANTS:
            r = got[tree]
            # What the trace itself keeps (Xen warming up), no more.
            assert r["guests"] == up["guests"] >= 9 and r["kept"] == up["kept"], r
            assert r["held_per_guest"] >= up["held_per_guest"], r
            assert r["va_per_guest"] > r["held_per_guest"], r  # a guard each
            assert r["pte_writes_per_guest"] > 0 and r["tlb_flushes_per_guest"] > 0, r
        assert got["split-vmap"]["waste_per_guest"] == 0
        assert got["no-trim"]["waste_per_guest"] >= 0
    text = (bench.out / "bench.txt").read_text()
    assert "A running host, per guest created and destroyed" in text
    for tree in VARIANTS:
        assert f"{tree}: at most " in text and "(as upstream)" in text


def scan(bench, tree: str, pattern: str) -> list[dict]:
    return sorted((p for p in bench.data["scan"]
                   if p["variant"] == tree and p["pattern"] == pattern),
                  key=lambda p: p["live"])


def test_unaligned_allocations_still_scan_holes_they_do_not_fit(bench):
    """A 2-page allocation with no alignment among holes of one page
    (swiss) visits them, more of them the more there are."""
    for tree in VARIANTS:
        pts = scan(bench, tree, "swiss")
        assert len(pts) >= 3, tree
        for a, b in itertools.pairwise(pts):
            assert b["bitops_per_alloc"] > a["bitops_per_alloc"], (a, b)


def test_aligned_allocations_cost_the_same_at_any_count(bench):
    """The xenheap's allocations, as large as their alignment, scan from
    vmap-aligned's hint: one bit search each, however many are live, and
    no more bitmap words at the most live allocations than twice those at
    the fewest."""
    for tree in VARIANTS:
        pts = scan(bench, tree, "aligned")
        assert len(pts) >= 3, tree
        assert all(p["bitops_per_alloc"] <= 2 for p in pts), pts
        assert pts[-1]["words_per_alloc"] <= 2 * pts[0]["words_per_alloc"], pts


def test_packed_allocations_scan_nothing(bench):
    """Without holes vm_low follows the allocations: one bit search each."""
    for tree in VARIANTS:
        pts = scan(bench, tree, "packed")
        assert len(pts) >= 3 and all(p["bitops_per_alloc"] <= 2 for p in pts), pts


def test_conversion_ratios_for_the_variants(bench):
    conv = {c["variant"]: c for c in bench.data["conv"]}
    assert set(conv) == set(VARIANTS)
    for c in conv.values():
        # A vmapped page costs an array load more than a direct-map one,
        # which costs the page->virt check more than the bare arithmetic.
        assert c["vmap_ratio"] > c["direct_ratio"] > 1.0, c


def test_plots_are_pngs(bench):
    for name in ("waste.png", "scan.png"):
        data = (bench.out / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name
        assert len(data) > 5000, name


def test_cover_letter_includes_the_table(bench):
    table = (bench.out / "bench.txt").read_text().rstrip("\n")
    covers = {}
    for label, tables in (("with", bench.env["GEN_BENCH_DIR"]),
                          ("without", str(bench.tmp / "no-tables"))):
        env = {**bench.env, "GEN_BENCH_DIR": tables}
        out = bench.tmp / f"series-{label}"
        res = gen(bench.tmp, env, "--variant", "split-vmap", "-o", str(out), "--date",
                  FIXED_DATE, "--no-cc")
        assert res.returncode == 0, res.stderr
        covers[label] = next((out / "split-vmap").glob("*0000-cover-letter.patch")).read_text()
    assert table in covers["with"]
    assert "How much is wasted?" not in covers["without"]


def test_cover_letter_quotes_no_table_measured_on_other_code(bench, tmp_path):
    """The table names the code of each series it measured: a series whose
    C changed since gets none, one whose messages alone changed keeps it."""
    table = (bench.out / "bench.txt").read_text().rstrip("\n")
    covers = {}
    for label, path, old, new in (
            ("code", "c/vmap/vunmap_partial.c.j2", "vmap: bad partial unmap of %p",
             "vmap: refusing to unmap %p"),
            ("message", "msg/vmap-partial.txt.j2", "vmap", "vmap")):
        tool = tmp_path / label
        for part in ("gen", "templates"):
            shutil.copytree(ROOT / part, tool / part)
        tpl = tool / "templates" / path
        text = tpl.read_text()
        assert old in text
        tpl.write_text(text.replace(old, new, 1) + ("\nOne more line.\n"
                                                    if label == "message" else ""))
        out = tmp_path / f"series-{label}"
        res = gen(bench.tmp, {**bench.env, "PYTHONPATH": str(tool)}, "--variant",
                  "split-vmap", "-o", str(out), "--date", FIXED_DATE, "--no-cc")
        assert res.returncode == 0, res.stderr
        covers[label] = next((out / "split-vmap").glob("*0000-cover-letter.patch")).read_text()
    assert table not in covers["code"] and "How much is wasted?" not in covers["code"]
    assert table in covers["message"]
