"""The bad-input matrix: each bad call must WARN (in vmap.c) and leave the
bitmap, vm_low, vm_top, the page tables, the page counts and the TLB as
they were.

vunmap_partial() is checked on the split-vmap tree (it returns -EINVAL); vunmap() on every tree,
for the inputs its contract refuses (it frees a whole allocation from its
first page, with any offset in that page, and vunmap(NULL) is a quiet
no-op, so NULL, an unaligned VA and nr are not bad inputs for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from gen import harness
from gen.sim import PAGE, Sim


@dataclass
class Layout:
    """A: 4 pages, then a guard, then B: 3 pages."""

    a: int
    b: int


def layout(sim: Sim) -> Layout:
    a = sim.vmap(sim.frames(4))
    b = sim.vmap(sim.frames(3))
    assert b == a + 5 * PAGE
    return Layout(a, b)


def stale_after_reuse(sim: Sim, lay: Layout, release: Callable[[int], None]) -> int:
    """Free A, let a 2-page mapping take its place; A's third page is now
    the guard after it."""
    release(lay.a)
    c = sim.vmap(sim.frames(2))
    assert c == lay.a
    return lay.a + 2 * PAGE


# name: (va, nr) from the layout; partial is the released range before it.
PARTIAL_CASES: dict[str, Callable[..., tuple[int, int]]] = {
    "null": lambda sim, lay, rel: (0, 1),
    "foreign": lambda sim, lay, rel: (sim.addr(sim.h.frame_ptr(1)), 1),
    "bitmap-page": lambda sim, lay, rel: (sim.va(2), 1),
    "guard-page": lambda sim, lay, rel: (lay.a - PAGE, 1),
    "above-vm_top": lambda sim, lay, rel: (sim.va(sim.vm_top + 10), 1),
    "interior-past-the-end": lambda sim, lay, rel: (lay.a + 2 * PAGE, 3),
    "unaligned": lambda sim, lay, rel: (lay.a + 16, 1),
    "nr-zero": lambda sim, lay, rel: (lay.a, 0),
    "into-the-neighbour": lambda sim, lay, rel: (lay.a + 3 * PAGE, 3),
    "one-page-too-many": lambda sim, lay, rel: (lay.a, 5),
    "double-free": lambda sim, lay, rel: (rel(lay.a + PAGE, 1), (lay.a + PAGE, 1))[1],
    "double-free-after-reuse": lambda sim, lay, rel: (
        stale_after_reuse(sim, lay, lambda va: rel(va, 4)), 2),
}

VUNMAP_CASES: dict[str, Callable[..., int]] = {
    "foreign": lambda sim, lay, rel: sim.addr(sim.h.frame_ptr(1)),
    "bitmap-page": lambda sim, lay, rel: sim.va(2),
    "guard-page": lambda sim, lay, rel: lay.a - PAGE,
    "above-vm_top": lambda sim, lay, rel: sim.va(sim.vm_top + 10),
    "interior-page": lambda sim, lay, rel: lay.a + 2 * PAGE,
    "double-free": lambda sim, lay, rel: (rel(lay.a), lay.a)[1],
    "double-free-after-reuse": lambda sim, lay, rel: stale_after_reuse(sim, lay, rel),
}


def refused(sim: Sim, call: Callable[[], None], logs: bool = False) -> None:
    """call must WARN in vmap.c and change nothing; with logs, it must also
    say so with printk()."""
    before = sim.snapshot()
    lines = len(sim.h.log())
    call()
    assert len(sim.h.log()) == lines + logs
    recs = sim.records()
    assert [r.kind for r in recs] == ["WARN"], recs
    assert recs[0].file.endswith("xen/common/vmap.c")
    assert sim.snapshot() == before, "a refused call changed the state"


@pytest.mark.parametrize("case", sorted(PARTIAL_CASES))
def test_vunmap_partial_refuses(sim, partial, case):
    lay = layout(sim)

    def release(va: int, nr: int) -> None:
        assert partial(sim.ptr(va), nr) == 0

    va, nr = PARTIAL_CASES[case](sim, lay, release)
    rc = []
    refused(sim, lambda: rc.append(partial(sim.ptr(va), nr)), logs=True)
    assert rc == [-22]  # -EINVAL


@pytest.mark.parametrize("case", sorted(VUNMAP_CASES))
def test_vunmap_refuses(sim, case):
    lay = layout(sim)

    def release(va: int) -> None:
        sim.h.vunmap(sim.ptr(va))

    va = VUNMAP_CASES[case](sim, lay, release)
    refused(sim, lambda: sim.h.vunmap(sim.ptr(va)))


def test_vunmap_of_null_is_a_quiet_no_op(sim):
    layout(sim)
    before = sim.snapshot()
    sim.h.vunmap(sim.ffi.NULL)
    assert sim.records() == [] and sim.snapshot() == before


def test_vfree_of_a_bad_va_fails_its_assert(sim):
    """vfree() ASSERTs that the VA starts a mapping: a debug Xen stops."""
    lay = layout(sim)
    with pytest.raises(harness.XenTrap, match="ASSERT") as trap:
        sim.h.vfree(sim.ptr(lay.a + PAGE))
    rec = trap.value.record
    line = (sim.h.spec.root / "xen/common/vmap.c").read_text().splitlines()[rec.line - 1]
    assert rec.file.endswith("xen/common/vmap.c") and "ASSERT(pages)" in line
    sim.records()  # the trap's own record
