"""The tests must catch a broken series.

Each mutation edits one function of the patched tree in a scratch tree
(the rest of the tree is the patched one), the harness is built from it,
and a test must fail: the state machine within a bounded, seeded search
for vunmap_partial()'s mutants, the other-CPU test for the free path's
order.  A mutant is caught only by the code under test going wrong, never
by the harness's own setup.  To watch a mutant being caught, run the
printed command with -s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from gen import cedit, harness
from gen.cedit import Kind

from .machine import machine_for
from .sim import Sim
from .test_xenheap import another_cpu_at_every_point

MUTATIONS = {
    # Leave vm_low where it was, so a freed hole below it is never reused.
    "vm_low-not-lowered": ("if ( bit < vm_low[type] )", "if ( 0 )"),
    # Clear the bit after the range too: one bit too many.
    "one-bit-too-many": ("bit < end; bit++", "bit <= end; bit++"),
}

SEARCH = settings(settings.get_profile("ci"), max_examples=100, stateful_step_count=40,
                  derandomize=True, report_multiple_bugs=False)


# The free path of split-vmap as v1 had it: untrack after vunmap_partial()
# has handed the range back, when another CPU may have tracked it.
UNTRACK = "    xenheap_vmap_untrack(va, pdx, nr);\n"
RETURN = "    return pdx_to_page(pdx);\n"
RACE = ((UNTRACK + "    if ( vunmap_partial(va, nr) )\n", "    if ( vunmap_partial(va, nr) )\n"),
        (RETURN, UNTRACK + RETURN))


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


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutant_is_caught(source, mutation, tmp_path, request):
    if source.variant != "split-vmap":
        pytest.skip("the mutations edit vunmap_partial(), which only split-vmap adds")
    tree = mutant_tree(source.root, tmp_path / "xen", "xen/common/vmap.c",
                       "vunmap_partial", None, (MUTATIONS[mutation],))
    xh = harness.build(tree)
    assert xh.has("vunmap_partial")
    with pytest.raises((AssertionError, harness.XenTrap)) as caught:
        run_state_machine_as_test(machine_for(xh), settings=SEARCH)
    print(f"mutant {mutation} caught: {caught.value}")
    print("\n".join(getattr(caught.value, "__notes__", [])))
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")


def test_race_mutant_is_caught(source, tmp_path, request):
    """Untracking after the range went back to vmap (v1's order) lets the
    freeing CPU wipe the tracking of another CPU's allocation: the other
    CPU's virt_to_page() then fails its ASSERT."""
    if source.variant != "split-vmap":
        pytest.skip("the mutation edits the free path through vunmap_partial()")
    tree = mutant_tree(source.root, tmp_path / "xen", "xen/common/page_alloc.c",
                       "xenheap_vunmap", harness.XENHEAP_VMAP_COND, RACE)
    s = Sim(harness.build(tree), xenheap_vmap=True)
    try:
        with pytest.raises(harness.XenTrap) as caught:
            another_cpu_at_every_point(s, 0)
    finally:
        s.close()
    rec = caught.value.record
    assert (rec.kind, rec.file) == ("ASSERT", harness.XV_C), rec
    print(f"race mutant caught: {caught.value}")
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")
