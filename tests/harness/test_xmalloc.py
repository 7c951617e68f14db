"""xmalloc_tlsf.c on the tree's own xenheap (on vmap on the patched
trees): the TLSF pool for small sizes, whole pages for large ones (trimmed
to the size, or under no-trim on vmap the whole 2^order block), xfree()
freeing what xmalloc kept, xrealloc() keeping contents, and the
xfree-check of both series."""

from __future__ import annotations

import pytest

from gen.harness import XenTrap
from gen.sim import PAGE, Sim

from .machine import order_of, pattern, pfn_up

ZERO_BLOCK_PTR = 0xBAD0BAD0BAD0BAD0


def fill(sim, p: int, n: int, seed: int) -> bytes:
    """Write a pattern through the pointer; returns it."""
    data = pattern(seed, n)
    sim.ffi.memmove(sim.ptr(p), data, n)
    return data


def alloc(sim, size: int, align: int = 0) -> int:
    p = sim.addr(sim.h.xmalloc(size, align))
    assert p and sim.read(p, size) is not None, "xmalloc() gave unusable memory"
    return p


def keeps_whole_blocks(sim: Sim) -> bool:
    """no-trim with the xenheap on vmap."""
    return sim.on_vmap and "vmap-partial" not in sim.h.traits


def frame(sim: Sim, p: int) -> int:
    if sim.on_window(p):
        return sim.h.vmap_to_mfn(sim.ptr(p))
    return (p - sim.layout("H_DIRECTMAP_VIRT_START")) // PAGE


@pytest.mark.parametrize("size", [1, 16, 100, 1000, 3000])
@pytest.mark.parametrize("align", [0, 8, 64, 512])
def test_pool_allocations_are_aligned_apart_and_freed(xsim, size, align):
    sim = xsim
    used = sim.h.xmalloc_pool_used()
    ptrs = [alloc(sim, size, align) for _ in range(3)]
    data = [fill(sim, p, size, k) for k, p in enumerate(ptrs)]
    for p, d in zip(ptrs, data, strict=True):
        assert p % max(align, 16) == 0
        assert sim.read(p, size) == d  # no allocation overlaps another
        assert p % PAGE, "a pool allocation is never page aligned here"
        assert sim.on_window(p) == sim.on_vmap
    for p in ptrs:
        sim.h.xfree(sim.ptr(p))
    assert sim.h.xmalloc_pool_used() == used
    sim.xlog()


@pytest.mark.parametrize("pages,align_pages", [(1, 0), (3, 0), (5, 0), (2, 4), (9, 16),
                                               (17, 0), (513, 0)])
def test_whole_pages_held_and_freed(xsim, pages, align_pages):
    """xmalloc_whole_pages() takes 2^order pages; it gives the tail back, so
    only PFN_UP(size) stay (one vmap allocation, trimmed, under
    split-vmap), except under no-trim on vmap, where the whole block stays
    and xfree() frees it in one call; otherwise xfree() frees it in its
    power-of-two chunks."""
    sim = xsim
    size, align = pages * PAGE - 10, align_pages * PAGE
    order = order_of(pfn_up(max(size, align)))
    held = 1 << order if keeps_whole_blocks(sim) else pages
    xenheap = sim.h.ram_xenheap_pages()
    sim.xlog()
    p = alloc(sim, size, align)
    log = sim.xlog()
    assert p % max(PAGE, align) == 0
    assert (log[0].alloc, log[0].order) == (True, order)
    trims = [e for e in log[1:] if not e.alloc]
    assert sum(1 << e.order for e in trims) == (1 << order) - held, log
    assert sim.h.ram_xenheap_pages() == xenheap + held
    assert sim.h.frame_order(frame(sim, p)) == held  # PFN_ORDER()
    if sim.on_vmap:
        # One vmap allocation, [p, p + held pages), guarded.
        assert sim.h.xv_lookup(sim.ptr(p + (held - 1) * PAGE)) == frame(sim, p) + held - 1
        assert sim.read(p + held * PAGE, 1) is None
    data = fill(sim, p, size, pages)
    assert sim.read(p, size) == data
    sim.h.xfree(sim.ptr(p))
    frees = sim.xlog()
    assert all(not e.alloc for e in frees) and sum(1 << e.order for e in frees) == held
    assert len(frees) == (1 if keeps_whole_blocks(sim) else bin(held).count("1")), frees
    assert sim.h.ram_xenheap_pages() == xenheap
    if sim.on_vmap:
        assert sim.read(p, 1) is None and sim.h.xv_lookup(sim.ptr(p)) == 2**64 - 1


def test_short_lived_pairs_reuse_the_spare_pool_page(xsim):
    """With xmalloc-spare, the page that an xfree() empties stays aside for
    the next xmalloc(): after the first pair, pairs on an empty pool make
    no xenheap call, so no map, unmap or flush.  Upstream gives the page
    back and takes one again each time (the control for the test)."""
    sim = xsim
    for size in (100, 2000):  # empties the pool that set-up left
        sim.h.xfree(sim.ptr(alloc(sim, size)))
    sim.xlog()
    flushes = sim.h.counter(sim.h.lib.H_TLB_FLUSHES)
    for size in (16, 100, 1000, 2000, 3000) * 4:
        sim.h.xfree(sim.ptr(alloc(sim, size)))
    calls = sim.xlog()
    if "xenheap-track" in sim.h.traits:
        assert calls == [], calls
        assert sim.h.counter(sim.h.lib.H_TLB_FLUSHES) == flushes
    else:
        assert len(calls) == 2 * 20 and [c.alloc for c in calls[:2]] == [True, False]


def test_xzalloc_clears_recycled_memory(xsim):
    sim = xsim
    for size in (200, 3 * PAGE):
        p = alloc(sim, size)
        fill(sim, p, size, 1)
        sim.h.xfree(sim.ptr(p))
        z = sim.addr(sim.h.xzalloc(size, 0))
        assert z == p  # the same memory again
        assert sim.read(z, size) == bytes(size)
        sim.h.xfree(sim.ptr(z))


def test_xrealloc_keeps_contents_across_pool_and_pages(xsim):
    sim = xsim
    xenheap = sim.h.ram_xenheap_pages()
    p = alloc(sim, 40)
    data = fill(sim, p, 40, 3)
    for size in (200, 2000, 2 * PAGE, 7 * PAGE, 3 * PAGE, 100, 600 * PAGE, 5000):
        q = sim.addr(sim.h.xrealloc(sim.ptr(p), size, 0))
        keep = min(size, len(data))
        assert q and sim.read(q, keep) == data[:keep]
        data = data[:keep] + fill(sim, q + keep, size - keep, size)
        p = q
    assert sim.addr(sim.h.xrealloc(sim.ptr(p), 0, 0)) == ZERO_BLOCK_PTR  # frees
    sim.h.xfree(sim.ffi.NULL)
    sim.h.xfree(sim.ptr(ZERO_BLOCK_PTR))
    sim.h.xfree(sim.h.xmalloc(1, 0))  # the pool's pages come and go
    assert sim.h.ram_xenheap_pages() <= xenheap + 1


def test_xrealloc_grows_in_place_within_a_kept_block(xsim):
    """Under no-trim on vmap a 5-page block holds 8 pages, so it grows to 8
    where it is; trimmed, it holds 5 and must move."""
    sim = xsim
    p = alloc(sim, 5 * PAGE)
    data = fill(sim, p, 5 * PAGE, 9)
    q = sim.addr(sim.h.xrealloc(sim.ptr(p), 8 * PAGE, 0))
    assert (q == p) == keeps_whole_blocks(sim)
    assert sim.read(q, 5 * PAGE) == data
    fill(sim, q + 5 * PAGE, 3 * PAGE, 1)
    sim.h.xfree(sim.ptr(q))


def test_shrinking_whole_pages_keeps_the_pointer(xsim):
    sim = xsim
    p = alloc(sim, 5 * PAGE)
    assert sim.addr(sim.h.xrealloc(sim.ptr(p), 2 * PAGE, 0)) == p
    sim.h.xfree(sim.ptr(p))


def test_allocation_failure_returns_null_and_leaks_nothing(xsim):
    sim = xsim
    free = sim.h.ram_free_pages()
    sim.h.fail_alloc(1)
    assert sim.addr(sim.h.xmalloc(3 * PAGE, 0)) == 0
    assert sim.h.ram_free_pages() == free


def test_a_pool_that_cannot_grow_falls_back_to_whole_pages(xsim):
    sim = xsim
    start = sim.h.ram_xenheap_pages()
    # Fill what the pool has, its spare page too, until it has to grow.
    while sim.h.ram_xenheap_pages() == start:
        alloc(sim, 3000)
    xenheap = sim.h.ram_xenheap_pages()
    sim.h.fail_alloc(1)  # the pool's new page
    p = alloc(sim, 3000)
    assert p % PAGE == 0 and sim.h.ram_xenheap_pages() == xenheap + 1
    sim.h.xfree(sim.ptr(p))
    assert sim.h.ram_xenheap_pages() == xenheap


# xfree-check (both series): what xfree() does not know.


@pytest.fixture
def checked(xh):
    """The control has no xfree-check: a double xfree() there loops forever."""
    assert "xenheap-track" in xh.traits
    return xh


MISUSES = ("xenheap-page", "inside-a-block", "double")


@pytest.mark.parametrize("on_vmap", [True, False], ids=["vmap", "directmap"])
@pytest.mark.parametrize("case", MISUSES)
def test_xfree_of_what_is_no_live_block(checked, on_vmap, case):
    xfree_misuse(checked, on_vmap, case)


def xfree_misuse(xh, on_vmap: bool, case: str) -> None:
    """WARN and change nothing; except that a double xfree() of a block on
    vmap does not get that far: its address is no xenheap page any more,
    and virt_to_page() ASSERTs."""
    sim = Sim(xh, xenheap_vmap=on_vmap)
    try:
        assert sim.on_vmap == on_vmap
        if case == "xenheap-page":
            keep = sim.xalloc(1)
            p = keep + PAGE
        else:
            keep = alloc(sim, 3 * PAGE)
            p = keep + PAGE
            if case == "double":
                sim.h.xfree(sim.ptr(keep))
                p, keep = keep, 0
        sim.xlog()
        before = sim.snapshot()
        if case == "double" and on_vmap:
            with pytest.raises(XenTrap, match="ASSERT") as trap:
                sim.h.xfree(sim.ptr(p))
            assert trap.value.record.file == "xen/arch/x86/xenheap-vmap.c"
        else:
            sim.h.xfree(sim.ptr(p))
            recs = sim.records()
            assert [(r.kind, r.file) for r in recs] == \
                [("WARN", "xen/common/xmalloc_tlsf.c")], recs
            assert "is not a live xmalloc() block" in sim.h.log()[-1]
        sim.records()
        assert sim.snapshot() == before and sim.xlog() == []
        if case == "xenheap-page":
            sim.xfree_pages(keep, 1)
        elif keep:
            sim.h.xfree(sim.ptr(keep))
        assert sim.records() == []
    finally:
        sim.close()


def test_xrealloc_reads_nothing_past_the_block_it_moves(xsim):
    """The last block of a pool page, aligned to 64 and so padded, grown
    out of the pool: _xrealloc() must copy from the pointer to the end of
    the block, not the block's size from the pointer.  With the pool on
    vmap a guard page follows, and the over-read that xrealloc-copy fixes
    faulted there (found by the sanitized state machine)."""
    s, h = xsim, xsim.h
    blocks = [alloc(s, 176, 64) for _ in range(PAGE // 176 + 2)]
    page = blocks[0] & ~(PAGE - 1)
    last = max(p for p in blocks if p & ~(PAGE - 1) == page)
    assert PAGE - (last - page) < 176 + 64, "the block is not at the end of its page"
    if s.on_vmap:
        assert s.read(page + PAGE, 1) is None, "no guard page after the pool page"
    data = fill(s, last, 176, 7)
    q = s.addr(h.xrealloc(s.ptr(last), PAGE - 64, 64))
    assert q and q % 64 == 0 and s.read(q, 176) == data
    h.xfree(s.ptr(q))
    for p in blocks:
        if p != last:
            h.xfree(s.ptr(p))
