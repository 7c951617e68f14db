"""What the messages quote from `gen bench` is what bench/results holds:
a rerun of the bench that changes a quoted number fails here until the
message is brought up to date."""

from __future__ import annotations

import json

from gen.baseline import RECORDED, Baseline
from gen.pipeline import template_context
from gen.render import Renderer
from gen.variants import VARIANTS

from ..conftest import ROOT

BENCH = json.loads((ROOT / "bench" / "results" / "bench.json").read_text())


def message(slug: str) -> str:
    """slug's message on 4.17.5, where the bench ran, as one line."""
    base = Baseline((4, 17), ".5", RECORDED["4.17"])
    var = VARIANTS["split-vmap"]
    patches = var.for_baseline(base)
    patch = next(p for p in patches if p.slug == slug)
    return " ".join(Renderer(template_context(var, base, patches)).render(patch.message).split())


def span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}"


def test_the_conversion_costs_quoted_are_the_measured_ones():
    assert BENCH["xen"] == "4.17.5"
    vmap = span([c["vmap_ratio"] for c in BENCH["conv"]])
    direct = span([c["direct_ratio"] for c in BENCH["conv"]])
    assert (f"take {vmap} times the direct map's arithmetic for a vmapped xenheap page, "
            f"and {direct} times for a page in the direct map") in message("xenheap-conv")


def test_one_bit_search_after_the_hint_is_the_measured_cost():
    calls = {(s["variant"], s["live"]): s["bitops_per_alloc"] for s in BENCH["scan"]
             if s["pattern"] == "aligned"}
    assert {calls[v, live] for v in VARIANTS for live in (100, 10000)} == {1.0}
    text = message("vmap-aligned")
    assert "took 20030 find_next_bit() and find_next_zero_bit() calls before this " \
           "patch and 1 after; after 10^2 live ones, 230 before and 1 after" in text
