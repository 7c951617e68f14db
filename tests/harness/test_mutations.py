"""The tests must catch a broken series.

Each mutation edits one function of the patched tree in a scratch tree
(the rest of the tree is the patched one), the harness is built from it,
and a test must fail:
- the state machine, within a bounded, seeded search, for the mutants
  of vmap.c and of xenheap-vmap.c's tracking;
- the conversion tests, for the mutants of the conversions;
- the misuse tests, each in a child that may hang, for the mutants of
  xfree()'s check;
- the other-CPU test, for the free path's order.
A mutant is caught only by the code under test going wrong or by a check
of its behaviour, never by the harness's own setup, and each kind of
mutant has a control: the same tests pass on the unmutated tree.  To
watch a mutant being caught, run the printed command with -s.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from gen import cedit, harness
from gen.cedit import Kind
from gen.sim import Sim
from gen.variants import SERIES

from .child import outcome
from .machine import machine_for
from .test_smp import stress
from .test_xenheap import another_cpu_at_every_point
from .test_xenheap_arrays import (
    test_conversions_agree_for_both_addresses_of_a_xenheap_page as conversions_agree,
)
from .test_xenheap_arrays import (
    test_conversions_of_pages_only_in_the_direct_map as direct_map_only,
)
from .test_xmalloc import MISUSES, xfree_misuse


@dataclass(frozen=True)
class Mutant:
    needs: str  # the capability the mutated function comes with
    rel: str
    function: str
    cond: str | None
    edits: tuple[tuple[str, str], ...]
    killer: str = "machine"  # or "conversions": the tests of the conversions


VMAP_C = "xen/common/vmap.c"
MUTANTS = {
    # Leave vm_low where it was, so a freed hole below it is never reused.
    "vm_low-not-lowered": Mutant("vmap-partial", VMAP_C, "vunmap_partial", None,
                                 (("if ( bit < vm_low[type] )", "if ( 0 )"),)),
    # Clear the bit after the range too: one bit too many.
    "one-bit-too-many": Mutant("vmap-partial", VMAP_C, "vunmap_partial", None,
                               (("bit < end; bit++", "bit <= end; bit++"),)),
    # xenheap-vmap.c is the same in both variants: mutate it once, under
    # no-trim, whose search finds these mutants fastest (seconds, not a
    # minute under split-vmap).
    # Trust virt->page without page->virt pointing back: a stale or zeroed
    # entry then names a page that is not mapped there.
    "lookup-unchecked": Mutant("xmalloc-no-trim", harness.XV_C, "xenheap_vmap_lookup", None,
                               (("ACCESS_ONCE(xenheap_vmap_fwd[pdx]) != idx", "0"),)),
    # Forget page->virt on untrack: page_to_virt() then names a freed VA.
    "untrack-keeps-page-virt": Mutant("xmalloc-no-trim", harness.XV_C,
                                      "xenheap_vmap_untrack", None,
                                      (("xenheap_vmap_fwd[pdx + i] = 0;", "(void)pdx;"),)),
    # The conversions (the same in both variants): virt_to_maddr() of a
    # vmap address loses the offset in the page ...
    "maddr-drops-offset": Mutant("xmalloc-no-trim", harness.XV_C,
                                 "xenheap_vmap_virt_to_maddr", None,
                                 (("|\n           PAGE_OFFSET(va);", ";"),), "conversions"),
    # ... page_to_virt() of a vmapped page gives its direct-map alias ...
    "page-to-virt-direct": Mutant("xmalloc-no-trim", harness.XV_H, "xenheap_vmap_pdx_to_virt",
                                  "CONFIG_XENHEAP_VMAP",
                                  (("return idx ? (void *)", "return 0 ? (void *)"),),
                                  "conversions"),
    # ... and virt_to_page() takes a vmap address for the Xen image's.
    "vmap-va-unknown": Mutant("xmalloc-no-trim", harness.XH_H, "xenheap_vmap_va",
                              "CONFIG_XENHEAP_VMAP",
                              (("return va -", "return false && va -"),),
                              "conversions"),
}


# The xfree() check, mutated where the state machine cannot go: without
# it, xfree() of what is no live block frees garbage, or loops for ever on
# a page count of 0, so the misuse tests run in a child that may hang.
XFREE_CHECK = "    if ( !is_xen_heap_page(pg) || !size )\n"
XFREE_MUTANTS = {
    # Trust any page count, even the 0 of a block that was freed.
    "xfree-check-size": ((XFREE_CHECK, "    if ( !is_xen_heap_page(pg) )\n"),),
    # No check at all, as before the series.
    "xfree-check-gone": ((XFREE_CHECK, "    if ( 0 )\n"),),
}
# The control's six misuses take about 0.1 s in all.
HANG_SECONDS = 3.0


def killed_by_the_code(exc: BaseException) -> str | None:
    """Where a kill came from, if from the code under test or from the
    checks of its behaviour; None if from the harness's own set-up."""
    if isinstance(exc, harness.XenTrap):
        return exc.record.file if exc.record.file.startswith("xen/") else None
    site = traceback.extract_tb(exc.__traceback__)[-1]
    return site.filename if Path(site.filename).name in CHECKS else None


# Where the tests check behaviour: the state machine's rules and
# invariants, the model it compares the machine with, and the tests of
# the conversions.
CHECKS = ("machine.py", "model.py", "test_xenheap_arrays.py")

SEARCH = settings(settings.get_profile("ci"), max_examples=100, stateful_step_count=40,
                  derandomize=True, report_multiple_bugs=False)


# The free path as split-vmap's v1 had it: untrack after the unmap has
# handed the range back, when another CPU may have tracked it.
UNTRACK = "    xenheap_vmap_untrack(va, pdx, nr);\n"
RETURN = "    return pdx_to_page(pdx);\n"
UNMAP = {"split-vmap": "    if ( vunmap_partial(va, nr) )\n",
         "no-trim": "    if ( vunmap_xenheap(va) )\n"}


def race(variant: str) -> tuple[tuple[str, str], ...]:
    return (UNTRACK + UNMAP[variant], UNMAP[variant]), (RETURN, UNTRACK + RETURN)


def mutant_tree(root: Path, dest: Path, rel: str, function: str, cond: str | None,
                edits: tuple[tuple[str, str], ...]) -> Path:
    """A tree whose files are root's (symlinked), but for rel, in which
    function (the one under #if cond) has each old text replaced by new."""
    path = root / rel
    src = path.read_text()
    item = cedit.find(src, function, Kind.FUNCTION, str(path), cond)
    body = item.text(src)
    for old, new in edits:
        assert body.count(old) == 1, f"the mutation no longer applies: {old!r}"
        body = body.replace(old, new)
    here, there = root, dest
    for part in Path(rel).parts:
        there.mkdir(parents=True, exist_ok=True)
        for f in here.iterdir():
            if f.name not in (part, ".git"):
                (there / f.name).symlink_to(f)
        here, there = here / part, there / part
    there.write_text(src[:item.start] + body + src[item.end:])
    return dest


def test_unmutated_passes_the_same_search(source, xh):
    """The control for the mutants: the same search finds nothing."""
    run_state_machine_as_test(machine_for(xh), settings=SEARCH)


def conversion_tests(xh: harness.Harness) -> None:
    """The tests of the conversions of a xenheap page, each on a new
    machine with the xenheap on vmap."""
    for test, arg in ((conversions_agree, 0), (conversions_agree, 2),
                      (conversions_agree, 9), (direct_map_only, None)):
        s = Sim(xh, xenheap_vmap=True)
        try:
            test(s, *(() if arg is None else (arg,)))
        finally:
            s.close()


@pytest.mark.needs("xenheap-conv")
def test_unmutated_passes_the_conversion_tests(xh):
    """The control for the conversions' mutants."""
    conversion_tests(xh)


def pytest_generate_tests(metafunc):
    """Each mutant against the sources that have the function it edits."""
    if "mutation" in metafunc.fixturenames:
        from .conftest import capabilities, source_ids

        pairs = [(i, name) for name, m in sorted(MUTANTS.items())
                 for i in source_ids() if m.needs in capabilities(i)]
        if pairs:  # none on the fixes series' tree: conftest deselects the test
            metafunc.parametrize(("source", "mutation"), pairs, indirect=["source"],
                                 scope="session", ids=[f"{i}-{n}" for i, n in pairs])


@pytest.mark.own_sources
def test_mutant_is_caught(source, mutation, tmp_path, request):
    m = MUTANTS[mutation]
    tree = mutant_tree(source.root, tmp_path / "xen", m.rel, m.function, m.cond, m.edits)
    xh = harness.build(tree, SERIES[source.variant])
    with pytest.raises((AssertionError, harness.XenTrap)) as caught:
        if m.killer == "conversions":
            conversion_tests(xh)
        else:
            run_state_machine_as_test(machine_for(xh), settings=SEARCH)
    assert killed_by_the_code(caught.value), \
        f"mutant {mutation} was killed by the harness's set-up, not a check: {caught.value}"
    print(f"mutant {mutation} caught: {caught.value}")
    print("\n".join(getattr(caught.value, "__notes__", [])))
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")


@pytest.mark.needs("xenheap-vmap")
def test_race_mutant_is_caught(source, tmp_path, request):
    """Untracking after the range went back to vmap (v1's order) lets the
    freeing CPU wipe the tracking of another CPU's allocation: the other
    CPU's virt_to_page() then fails its ASSERT."""
    tree = mutant_tree(source.root, tmp_path / "xen", "xen/common/page_alloc.c",
                       "xenheap_vunmap", harness.XENHEAP_VMAP_COND, race(source.variant))
    s = Sim(harness.build(tree, SERIES[source.variant]), xenheap_vmap=True)
    try:
        with pytest.raises(harness.XenTrap) as caught:
            another_cpu_at_every_point(s, 0)
    finally:
        s.close()
    rec = caught.value.record
    assert (rec.kind, rec.file) == ("ASSERT", harness.XV_C), rec
    print(f"race mutant caught: {caught.value}")
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")


@pytest.mark.needs("xenheap-vmap")
def test_race_mutant_is_caught_by_cpus_at_once(source, tmp_path, request):
    """The same mutant, found by CPUs that really run at once (test_smp.py's
    rounds) rather than at a chosen point: within 100 rounds, one CPU's
    allocation stops converting or fails a check."""
    tree = mutant_tree(source.root, tmp_path / "xen", "xen/common/page_alloc.c",
                       "xenheap_vunmap", harness.XENHEAP_VMAP_COND, race(source.variant))
    h = harness.build(tree, SERIES[source.variant])
    for seed in range(1, 101):
        s = Sim(h, xenheap_vmap=True)
        try:
            failed, _ops = stress(s, 2, seed)
            recs = s.records()
        finally:
            s.close()
        if failed:
            break
    assert failed, "100 rounds of two CPUs did not catch the race mutant"
    assert recs and recs[0].kind in ("ASSERT", "VIOLATION", "WARN"), recs
    print(f"race mutant caught by CPUs at once in round {seed}: {recs[0]}")
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")


def in_child(fn: Callable[[], None], timeout: float = HANG_SECONDS) -> str:
    """Run fn in a forked child: "passed", "failed" (a check failed or the
    code trapped) or "hung" (killed after timeout seconds)."""
    said = outcome(lambda: (fn(), "passed")[1], timeout)
    return said if said in ("passed", "hung") else "failed"


def misuse_outcomes(xh: harness.Harness, stop_at_first: bool) -> dict[str, str]:
    out = {}
    for on_vmap in (True, False):
        for case in MISUSES:
            key = f"{case}-{'vmap' if on_vmap else 'directmap'}"
            out[key] = in_child(lambda: xfree_misuse(xh, on_vmap, case))  # noqa: B023
            if stop_at_first and out[key] != "passed":
                return out
    return out


@pytest.mark.needs("xfree-check", "xenheap-vmap-tree")
def test_xfree_misuse_passes_in_a_child(xh):
    """The control for the xfree-check mutants: every misuse passes in a
    child, well within the time after which a child counts as hung."""
    assert set(misuse_outcomes(xh, stop_at_first=False).values()) == {"passed"}


# xfree() is the same in both variants: mutate it once, under no-trim.
@pytest.mark.needs("xfree-check", "xmalloc-no-trim")
@pytest.mark.parametrize("xfree_mutation", sorted(XFREE_MUTANTS))
def test_xfree_check_mutant_is_caught(source, xfree_mutation, tmp_path):
    mutation = xfree_mutation
    tree = mutant_tree(source.root, tmp_path / "xen", "xen/common/xmalloc_tlsf.c", "xfree",
                       None, XFREE_MUTANTS[mutation])
    outcomes = misuse_outcomes(harness.build(tree, SERIES[source.variant]),
                               stop_at_first=True)
    caught = {k: v for k, v in outcomes.items() if v != "passed"}
    assert caught, f"mutant {mutation} survived every misuse: {outcomes}"
    print(f"mutant {mutation} caught: {caught}")
