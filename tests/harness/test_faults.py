"""Failure injection: every domheap allocation, and every map_pages_to_xen()
call, of an operation is failed in turn.  The operation must then return
NULL having changed nothing: no bit, no mapping, no page (page-table pages
aside: Xen keeps the tables it built)."""

from __future__ import annotations

from collections.abc import Callable

from gen.sim import PAGE, SUPER_PAGES, Sim, Snapshot


def accounted(sim: Sim) -> int:
    """Pages not held by the test: free, page tables, xenheap, and what
    backs the xenheap arrays (none on the control)."""
    h = sim.h
    return (h.ram_free_pages() + h.counter(h.lib.H_PT_PAGES) + h.ram_xenheap_pages()
            + sim.array_pages())


def beyond_bitmap(sim: Sim, runs):
    return [r for r in runs if r.offset >= sim.bitmap_pages]


def region_states(sim: Sim, snap: Snapshot) -> list[tuple[object, ...]]:
    """(bitmap, vm_low, vm_top, runs beyond the bitmap) of VMAP_DEFAULT and,
    if apart, of the xenheap's region."""
    out = [(snap.bitmap, snap.vm_low, snap.vm_top, beyond_bitmap(sim, snap.runs))]
    if snap.xenheap_region:
        bitmap, low, top, runs = snap.xenheap_region
        out.append((bitmap, low, top,
                    [r for r in runs if r.offset >= sim.xh.bitmap_pages]))
    return out


def sweep(sim: Sim, arm: Callable[[int], None], counter: int, op: Callable[[], int],
          undo: Callable[[int], None], accounted: Callable[[Sim], int] = accounted) -> int:
    """Fail the 1st, 2nd, ... injection point of op, until op no longer
    reaches the armed one; returns how many points there were.  A failed
    op must have changed nothing; one that coped (xmalloc falls back to
    whole pages when its pool cannot grow) is undone, which must restore
    everything."""
    nth = 1
    while True:
        before = sim.snapshot()
        total = accounted(sim)
        fails = sim.h.counter(counter)
        arm(nth)
        va = op()
        arm(0)
        hit = sim.h.counter(counter) > fails
        if va:
            undo(va)
        after = sim.snapshot()
        grown = 0
        for (b_bits, b_low, b_top, b_runs), (a_bits, a_low, a_top, a_runs) in zip(
                region_states(sim, before), region_states(sim, after), strict=True):
            # Only a success may leave a bitmap grown (it never shrinks).
            more = (a_top - b_top) // (8 * PAGE) if va else 0
            assert a_bits == b_bits + bytes(more * PAGE), f"failure {nth} left a change behind"
            assert a_runs == b_runs, f"failure {nth} left a mapping behind"
            assert a_low == b_low
            grown += more
        assert accounted(sim) + grown == total, f"failure {nth} leaked pages"
        assert sim.records() == []
        if not hit:
            assert va, "op failed without an injected failure"
            return nth - 1
        nth += 1


def vfree(sim: Sim) -> Callable[[int], None]:
    return lambda va: sim.h.vfree(sim.ptr(va))


def test_every_allocation_of_vmalloc_may_fail(sim):
    # Across a 2M boundary, so that the mapping needs a new page table part
    # of the way through; with room in xmalloc's pool for the frame array.
    sim.vmap(sim.frames(500))
    held = sim.h.xmalloc(16, 0)
    failures = sweep(sim, sim.h.fail_alloc, sim.h.lib.H_HEAP_FAILS,
                     lambda: sim.addr(sim.h.vmalloc(20 * PAGE)), vfree(sim))
    assert failures == 21  # 20 frames, then the table for the third page
    sim.h.xfree(held)


def test_every_mapping_of_vmalloc_may_fail(sim):
    failures = sweep(sim, sim.h.fail_map, sim.h.lib.H_MAP_FAILS,
                     lambda: sim.addr(sim.h.vmalloc(6 * PAGE)), vfree(sim))
    assert failures == 6  # one map_pages_to_xen() per page


def test_growing_the_bitmap_may_fail(sim):
    """The allocation that needs a second bitmap page, failed at each step."""
    blocks = sim.frames(65, order=9)
    failures = sweep(sim, sim.h.fail_alloc, sim.h.lib.H_HEAP_FAILS,
                     lambda: sim.vmap(blocks, align=SUPER_PAGES, granularity=SUPER_PAGES),
                     lambda va: sim.h.vunmap(sim.ptr(va)))
    assert failures == 1  # the bitmap page; the tables are there already
