"""vunmap_partial(): release the head, the tail, a middle range or all of
one allocation, then free the pieces left, checking every invariant of the
model after each call."""

from __future__ import annotations

import pytest

from gen.sim import PAGE, RAM_PAGES

from .model import Model, check

# (offset, pages) released from an allocation of 8 pages.
CASES = {"head": (0, 3), "tail": (5, 3), "middle": (2, 3), "whole": (0, 8)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("vmalloc", [False, True], ids=["vmap", "vmalloc"])
def test_release_then_free_the_pieces(sim, partial, case, vmalloc):
    m = Model(end=sim.vm_end, reserved=sim.bitmap_pages, top=sim.vm_top)
    neighbour = sim.frames(2)
    m.add(sim.idx(sim.vmap(neighbour)), neighbour, vmalloc=False)
    if vmalloc:
        va = sim.addr(sim.h.vmalloc(8 * PAGE))
        mfns = [sim.h.vmap_to_mfn(sim.ptr(va + i * PAGE)) for i in range(8)]
    else:
        mfns = sim.frames(8)
        va = sim.vmap(mfns)
    start = sim.idx(va)
    m.add(start, mfns, vmalloc)
    for i in range(8):
        assert sim.write(va + i * PAGE, PAGE, i + 1)

    off, nr = CASES[case]
    assert partial(sim.ptr(va + off * PAGE), nr) == 0
    sim.free_frames(m.release(start + off, nr))  # the caller owns those frames
    check(sim, m, RAM_PAGES - 1)
    for i in range(8):
        inside = off <= i < off + nr
        assert (sim.read(va + i * PAGE, 1) is None) == inside
        if not inside:
            assert sim.read(va + i * PAGE, PAGE) == bytes([i + 1]) * PAGE

    # What was released is reused first: the hole is as good as new.
    if nr >= 2:
        hole_start = m.fit(1, 1)
        reuse = sim.frames(1)
        got = sim.vmap(reuse)
        assert sim.idx(got) == hole_start and start + off <= hole_start < start + off + nr
        m.add(hole_start, reuse, vmalloc=False)
        check(sim, m, RAM_PAGES - 1)

    for p in sorted(m.pieces.values(), key=lambda p: p.start, reverse=True):
        if p.vmalloc:
            sim.h.vfree(sim.ptr(sim.va(p.start)))
            m.release(p.start, len(p.mfns))
        else:
            sim.h.vunmap(sim.ptr(sim.va(p.start)))
            sim.free_frames(m.release(p.start, len(p.mfns)))
        check(sim, m, RAM_PAGES - 1)
    assert sim.vm_low == sim.bitmap_pages


def test_pieces_can_be_released_one_page_at_a_time(sim, partial):
    m = Model(end=sim.vm_end, reserved=sim.bitmap_pages, top=sim.vm_top)
    mfns = sim.frames(6)
    va = sim.vmap(mfns)
    m.add(sim.idx(va), mfns, vmalloc=False)
    for i in (5, 0, 2, 3, 1, 4):  # tail, head, middle, ... last
        assert partial(sim.ptr(va + i * PAGE), 1) == 0
        sim.free_frames(m.release(sim.idx(va) + i, 1))
        check(sim, m, RAM_PAGES - 1)
    assert m.pieces == {}


def test_a_superpage_is_split_by_a_partial_release(sim, partial):
    block = sim.frames(1, order=9)[0]
    va = sim.vmap([block], align=512, granularity=512)
    assert sim.level(va) == 2
    assert partial(sim.ptr(va + 100 * PAGE), 10) == 0
    assert sim.level(va) == 1
    assert sim.h.vmap_to_mfn(sim.ptr(va + 99 * PAGE)) == block + 99
    assert sim.h.vmap_to_mfn(sim.ptr(va + 110 * PAGE)) == block + 110
    assert sim.read(va + 105 * PAGE, 1) is None
    sim.h.vunmap(sim.ptr(va))
    sim.h.vunmap(sim.ptr(va + 110 * PAGE))
    sim.h.free_domheap_pages(block, 9)


@pytest.mark.parametrize("nth", [1, 2])
def test_an_unmap_that_cannot_split_fails_and_keeps_the_range(sim, partial, nth):
    """Releasing part of a 4M mapping splits a superpage, which needs a
    page-table page.  Without one: the unmap's error, a WARN, and the bits
    stay set, so the range is never handed out while still mapped.  Over
    two superpages the first may split and unmap before the second fails:
    that part is unmapped, the whole range still allocated."""
    blocks = sim.frames(2, order=9)
    va = sim.vmap(blocks, align=512, granularity=512)
    assert sim.level(va) == 2 and sim.level(va + 512 * PAGE) == 2
    first, nr = 500, 20  # across the two superpages
    before = sim.snapshot()
    sim.h.fail_alloc(nth)
    rc = partial(sim.ptr(va + first * PAGE), nr)
    sim.h.fail_alloc(0)
    assert rc == -12  # -ENOMEM
    recs = sim.records()
    assert [(r.kind, r.file) for r in recs] == [("WARN", "xen/common/vmap.c")], recs
    assert sim.h.log()[-1].startswith("<W>vmap: cannot unmap")
    after = sim.snapshot()
    assert after.bitmap == before.bitmap and after.vm_low == before.vm_low
    if nth == 1:
        assert after == before, "nothing happened"
    else:
        # The first superpage was split and its part unmapped; the rest is
        # as it was.
        assert sim.read(va + 505 * PAGE, 1) is None
        assert sim.level(va + 512 * PAGE) == 2
    assert sim.h.vmap_to_mfn(sim.ptr(va + 499 * PAGE)) == blocks[0] + 499
    # With memory it works, and the range is then free.
    assert partial(sim.ptr(va + first * PAGE), nr) == 0
    assert not sim.bit(sim.idx(va) + first) and sim.read(va + 515 * PAGE, 1) is None
    sim.h.vunmap(sim.ptr(va))
    sim.h.vunmap(sim.ptr(va + (first + nr) * PAGE))
    for b in blocks:
        sim.h.free_domheap_pages(b, 9)
