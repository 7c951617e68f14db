"""alloc_xenheap_pages() and free_xenheap_pages() of the tree's
page_alloc.c: on the control in the direct map; on the patched trees on
vmap (naturally aligned, reachable through the vmap VA and the direct-map
alias, freed by either), in the direct map with MEMF_directmap or before
the arrays exist; a sub-block freed on its own under split-vmap, refused
under no-trim; misuse refused with a WARN; failures that change
nothing; and a free that cannot unmap, which must leak rather than free
pages still mapped."""

from __future__ import annotations

import pytest

from gen import harness
from gen.sim import INVALID, PAGE, RAM_PAGES, VMAP_DEFAULT, VMAP_XENHEAP, Sim

from .model import Model, boot_model, check
from .test_faults import sweep

PAGE_ALLOC = "xen/common/page_alloc.c"


def refused(sim: Sim, call, where: str = PAGE_ALLOC) -> None:
    before = sim.snapshot()
    lines = len(sim.h.log())
    call()
    recs = sim.records()
    assert [r.kind for r in recs] == ["WARN"] and recs[0].file == where, recs
    assert len(sim.h.log()) == lines + 1
    assert sim.snapshot() == before, "a refused free changed the state"


@pytest.mark.parametrize("order", [0, 1, 3, 9, 10])
def test_allocations_are_naturally_aligned(xsim, order):
    s, h = xsim, xsim.h
    va = s.xalloc(order)
    n = 1 << order
    assert va % (n * PAGE) == 0
    assert s.on_window(va) == s.on_vmap
    mfn = h.vmap_to_mfn(s.ptr(va)) if s.on_vmap \
        else (va - s.layout("H_DIRECTMAP_VIRT_START")) // PAGE
    assert mfn % n == 0 and h.frames_xenheap(mfn, n) == n
    if s.on_vmap:
        # One mapping of consecutive frames, superpages where it can.
        assert [(r.pages, r.mfn) for r in s.xh.runs(s.xh.idx(va), n)] == [(n, mfn)]
        assert s.level(va) == (2 if order >= 9 else 1)
        assert s.read(va - PAGE, 1) is None and s.read(va + n * PAGE, 1) is None
    s.xfree_pages(va, order)
    assert h.frames_inuse(mfn, n) == 0 and h.frames_xenheap(mfn, n) == 0


def test_contents_are_the_same_through_both_addresses(vsim):
    s, h = vsim, vsim.h
    va = s.xalloc(2)
    mfn = h.vmap_to_mfn(s.ptr(va))
    for k in range(4):
        alias = s.addr(h.frame_ptr(mfn + k))
        assert s.write(va + k * PAGE, PAGE, 0x10 + k)
        assert s.read(alias, PAGE) == bytes([0x10 + k]) * PAGE
        assert s.write(alias + 100, 10, 0xee)
        assert s.read(va + k * PAGE + 100, 10) == b"\xee" * 10
    s.xfree_pages(va, 2)


def test_memf_directmap_gives_direct_map_memory(vsim):
    s, h = vsim, vsim.h
    flag = h.memf_directmap()
    assert flag, "the patched tree's xen/mm.h defines MEMF_directmap"
    before = s.snapshot()
    va = s.xalloc(3, flag)
    dm = s.layout("H_DIRECTMAP_VIRT_START")
    assert dm <= va < s.layout("H_DIRECTMAP_VIRT_END") and va % (8 * PAGE) == 0
    mfn = (va - dm) // PAGE
    assert h.frames_xenheap(mfn, 8) == 8
    after = s.snapshot()
    assert after.bitmap == before.bitmap and after.tracked == before.tracked
    assert s.addr(h.page_to_virt(mfn)) == va
    s.xfree_pages(va + 4 * PAGE, 2)  # a sub-block, as in the direct map ever
    s.xfree_pages(va, 2)
    assert h.frames_inuse(mfn, 8) == 0 and s.snapshot().tracked == before.tracked


@pytest.mark.parametrize("order", [0, 3, 9])
@pytest.mark.parametrize("by", ["vmap", "alias"])
def test_free_by_the_vmap_address_or_the_alias(vsim, order, by):
    s, h = vsim, vsim.h
    m = boot_model(s)
    n = 1 << order
    start = m.fit(n, n)
    va = s.xalloc(order)
    assert s.xh.idx(va) == start, "not the first naturally aligned fit"
    mfn = h.vmap_to_mfn(s.ptr(va))
    m.add(start, list(range(mfn, mfn + n)), kind="xenheap")
    check(s, Model.of(s.vm), RAM_PAGES - 1, xm=m)
    s.xfree_pages(va if by == "vmap" else s.addr(h.frame_ptr(mfn)), order)
    m.release(start, n)
    check(s, Model.of(s.vm), RAM_PAGES - 1, xm=m)  # bitmap, PTEs, arrays, pages
    assert h.frames_inuse(mfn, n) == 0 and h.xv_lookup(s.ptr(va)) == INVALID
    assert s.read(va, 1) is None


def test_a_sub_block_is_freed_on_its_own_or_refused(vsim):
    """split-vmap: each naturally aligned sub-block of an allocation goes
    back by itself, exactly that range; no-trim: vmap cannot release part
    of an allocation, so each such free WARNs and changes nothing."""
    s, h = vsim, vsim.h
    m = boot_model(s)
    va = s.xalloc(3)
    start, mfn = s.xh.idx(va), h.vmap_to_mfn(s.ptr(va))
    m.add(start, list(range(mfn, mfn + 8)), kind="xenheap")
    for first, order in ((4, 2), (2, 1), (1, 0), (0, 0)):
        where = va + first * PAGE
        if "vmap-partial" not in h.traits:
            refused(s, lambda: s.xfree_pages(where, order))  # noqa: B023
            continue
        s.xfree_pages(where, order)
        m.release(start + first, 1 << order)
        check(s, Model.of(s.vm), RAM_PAGES - 1, xm=m)
        assert h.frames_inuse(mfn + first, 1 << order) == 0
        assert s.read(where, 1) is None
    if "vmap-partial" not in h.traits:
        s.xfree_pages(va, 3)


def test_debug_key_m_counts_what_the_xenheap_holds_on_vmap(vsim):
    """What debug key 'm' prints (the series' last patch): the pages and
    allocations that virt->page tracks, and the VA that VMAP_XENHEAP's
    allocations hold in vmap's bitmap, guards excluded.  The guest stage's
    leak check compares them from cycle to cycle."""
    s, h = vsim, vsim.h
    if "xenheap-vmap" not in h.traits:
        pytest.skip("the tree has no xenheap on vmap")
    pages, allocs = s.usage()
    used = h.vm_used(VMAP_XENHEAP)
    assert used == pages  # what xmalloc's pool took while booting
    vas = [s.xalloc(order) for order in (0, 2, 3)]
    assert s.usage() == (pages + 13, allocs + 3)
    assert h.vm_used(VMAP_XENHEAP) == used + 13
    if "vmap-partial" in h.traits:
        s.xfree_pages(vas[2] + 4 * PAGE, 2)  # the tail half: still one allocation
        s.xfree_pages(vas[2] + 2 * PAGE, 0)  # a hole: now two
        assert s.usage() == (pages + 8, allocs + 4)
        assert h.vm_used(VMAP_XENHEAP) == used + 8
        s.xfree_pages(vas[2], 1)
        s.xfree_pages(vas[2] + 3 * PAGE, 0)
    else:
        s.xfree_pages(vas[2], 3)
    s.xfree_pages(vas[1], 2)
    s.xfree_pages(vas[0], 0)
    assert s.usage() == (pages, allocs) and h.vm_used(VMAP_XENHEAP) == used


def flushes_of(s: Sim, call) -> tuple[int, int, int]:
    """(flush_area() calls, whole-TLB flushes, page tables freed) by call."""
    h = s.h
    names = (h.lib.H_TLB_FLUSHES, h.lib.H_TLB_FLUSH_ALL, h.lib.H_PT_PAGES)
    before = [h.counter(n) for n in names]
    call()
    after = [h.counter(n) for n in names]
    return after[0] - before[0], after[1] - before[1], before[2] - after[2]


@pytest.mark.parametrize("order", [0, 1, 4, 8, 9])
def test_a_free_flushes_once_per_range(vsim, order):
    """split-vmap: one flush for the range freed, whatever its size: of the
    one page alone for a page, else of the whole TLB; x86 Xen also flushes
    before it frees a page table the unmap empties.  no-trim has no
    partial unmap, and x86's map_pages_to_xen(), which it unmaps with,
    flushes once per page; a 2M superpage it clears with one flush, or on
    4.17 first splits, which takes a page table and one more flush."""
    s = vsim
    keep = s.xalloc(0)  # so that the last free does not empty the tables
    va = s.xalloc(order)
    calls, full, tables = flushes_of(s, lambda: s.xfree_pages(va, order))
    if "vmap-partial" not in s.h.traits:
        split = order >= 9 and s.unmap_shatters
        pages = 1 if order >= 9 and not split else 1 << order
        assert (calls, full, tables) == (pages + split, 0, -split)
        s.xfree_pages(keep, 0)
        return
    assert calls == 1 + tables, (calls, tables)
    assert full == (0 if order == 0 else calls), (full, calls)
    if order and order < 9:
        # A trimmed sub-block costs one flush too.
        va = s.xalloc(order)
        calls, _, tables = flushes_of(s, lambda: s.xfree_pages(va + PAGE, 0))
        assert calls == 1 + tables
        if order > 1:  # the upper half, which page 1 is not in
            half = 1 << (order - 1)
            calls, _, tables = flushes_of(
                s, lambda: s.xfree_pages(va + half * PAGE, order - 1))
            assert calls == 1 + tables
    s.xfree_pages(keep, 0)


def test_a_whole_superpage_is_freed_without_memory(vsim):
    """split-vmap: unmapping a whole 2M mapping with destroy_xen_mappings()
    splits nothing, so the free succeeds while every allocation fails.
    no-trim unmaps with map_pages_to_xen(), which on 4.17 splits the
    superpage first: without memory the free WARNs and leaks the pages."""
    s, h = vsim, vsim.h
    va = s.xalloc(9)
    assert s.level(va) == 2
    mfn = h.vmap_to_mfn(s.ptr(va))
    h.fail_alloc(1)
    s.xfree_pages(va, 9)
    h.fail_alloc(0)
    if "vmap-partial" in h.traits or not s.unmap_shatters:
        assert s.records() == []
        assert h.frames_inuse(mfn, 512) == 0 and s.read(va, 1) is None
    else:
        assert [r.kind for r in s.records()] == ["WARN"]
        assert h.frames_inuse(mfn, 512) == 512 and s.read(va, 1) is not None


@pytest.mark.parametrize("case", ["vmalloc", "hole", "guard", "order-too-big", "unaligned",
                                  "double-free", "double-free-by-part"])
def test_misuse_warns_and_changes_nothing(vsim, case):
    s, h = vsim, vsim.h
    va = s.xalloc(2)
    other = s.addr(h.vmalloc(PAGE))
    bad = {"vmalloc": (other, 0), "hole": (s.xh.va(s.xh.vm_end - 8), 0),
           "guard": (va + 4 * PAGE, 0), "order-too-big": (va, 3),
           "unaligned": (va + PAGE, 1), "double-free": (va, 2),
           "double-free-by-part": (va + 2 * PAGE, 1)}[case]
    if case.startswith("double-free"):
        s.xfree_pages(va, 2)
    refused(s, lambda: s.xfree_pages(*bad))
    if not case.startswith("double-free"):
        s.xfree_pages(va, 2)
    h.vfree(s.ptr(other))


@pytest.mark.parametrize("size", [64, 3 * PAGE])
def test_vunmap_and_vfree_leave_the_xenheap_alone(vsim, size):
    """vunmap() and vfree() keep to VMAP_DEFAULT and VMAP_XEN.  Given an
    xmalloc()'d pointer in VMAP_XENHEAP (a pool page, or a whole-page
    block), vunmap() warns and vfree() fails its ASSERT, as for a
    direct-map pointer, and neither unmaps what the xenheap still uses."""
    s, h = vsim, vsim.h
    p = s.addr(h.xmalloc(size, 0))
    assert s.xh.contains(p) and s.write(p, 64, 0x5a)
    va = p - p % PAGE
    before = s.snapshot()
    h.vunmap(s.ptr(va))
    recs = s.records()
    assert [r.kind for r in recs] == ["WARN"] and recs[0].file.endswith("vmap.c"), recs
    assert s.snapshot() == before and s.read(p, 64) == b"\x5a" * 64
    with pytest.raises(harness.XenTrap, match="ASSERT") as trap:
        h.vfree(s.ptr(va))
    assert trap.value.record.file.endswith("xen/common/vmap.c")
    assert [r.kind for r in s.records()] == ["ASSERT"]
    assert s.snapshot() == before and s.read(p, 64) == b"\x5a" * 64
    h.xfree(s.ptr(p))
    assert s.records() == []

def test_the_region_is_the_xenheaps_and_twice_the_ram(vsim):
    """VMAP_XENHEAP is apart from VMAP_DEFAULT: a vmalloc() lands in the
    one, a xenheap allocation in the other, and only the other is a
    xenheap address to the conversions.  Sized twice the RAM, capped by
    the window."""
    s, h = vsim, vsim.h
    assert s.xh.t == VMAP_XENHEAP and s.xh.base != s.base()
    total = h.total_pages()
    assert s.xh.vm_end == min(2 * total, s.layout("H_VMAP_VIRT_END") // PAGE
                              - s.xh.base // PAGE)
    v = s.addr(h.vmalloc(PAGE))
    x = s.xalloc(0)
    assert s.vm.contains(v) and not s.xh.contains(v)
    assert s.xh.contains(x) and not s.vm.contains(x)
    assert h.xv_lookup(s.ptr(v)) == INVALID and h.xv_lookup(s.ptr(x)) != INVALID
    h.vfree(s.ptr(v))
    s.xfree_pages(x, 0)


def test_an_xmalloc_object_is_no_vmalloc_allocation(xsim):
    """xvfree() and _xvrealloc(), in the trees that have them, tell
    vmalloc()'s memory from xmalloc()'s with vm_size(va, VMAP_DEFAULT).  An
    object in an xmalloc() pool page, which is the first page of its
    xenheap allocation, must not look like a vmalloc() allocation, or
    xvfree() of it would _vfree() the pool page under TLSF.  Where the tree
    has xvfree(), it frees one object and the page's others stay intact."""
    s, h = xsim, xsim.h
    objs = [s.addr(h.xmalloc(64, 0)) for _ in range(4)]
    assert len({p // PAGE for p in objs}) == 1, "one pool page holds them"
    for k, p in enumerate(objs):
        assert s.write(p, 64, 0x30 + k)
        assert h.vm_size(s.ptr(p), VMAP_DEFAULT) == 0, \
            f"xmalloc() object {p:#x} looks like a vmalloc() allocation"
    if hasattr(h.lib, "h_xvfree"):
        h.xvfree(s.ptr(objs[1]))
        for k, p in enumerate(objs):
            if k != 1:
                assert s.read(p, 64) == bytes([0x30 + k]) * 64, "the pool page went"
        assert s.records() == []
    for k, p in enumerate(objs):
        if k != 1 or not hasattr(h.lib, "h_xvfree"):
            h.xfree(s.ptr(p))


@pytest.mark.needs("xenheap-vmap")
def test_a_full_region_falls_back_to_the_direct_map(xh):
    """With VMAP_XENHEAP full, alloc_xenheap_pages() still succeeds, in the
    direct map: each fallback is counted, the first one logged, and the
    memory is freed through the direct map.  Once there is room again, the
    xenheap is back on vmap."""
    s = Sim(xh, ram_pages=4096, xenheap_vmap=True)
    try:
        h = s.h
        assert s.xh.vm_end == 2 * h.total_pages(), "a small machine has a small region"
        mfn = s.frames(1)[0]
        fillers, chunk = [], 1024
        while chunk:
            va = s.addr(h.vmap_with(s.mfn_array([mfn] * chunk), 1, chunk, 1,
                                    h.page_hypervisor(), VMAP_XENHEAP))
            if va:
                fillers.append(va)
            else:
                chunk //= 2
        lines = len(h.log())
        dm = s.layout("H_DIRECTMAP_VIRT_START")
        got = [s.xalloc(0), s.xalloc(2)]
        assert all(dm <= va for va in got), "a full region must not fail the xenheap"
        assert h.xv_fallbacks() == 2
        assert h.log()[lines:] == \
            ["<W>Xenheap on vmap: cannot map order 0, using the direct map\n"]
        assert s.records() == []
        for va, order in zip(got, (0, 2), strict=True):
            first = (va - dm) // PAGE
            s.xfree_pages(va, order)
            assert h.frames_inuse(first, 1 << order) == 0
        for va in fillers:
            h.vunmap_xenheap(s.ptr(va))
        assert s.xh.contains(s.xalloc(0)), "with room again, the xenheap is on vmap"
        assert h.xv_report() == 0 and h.log()[-1].endswith(", 2 fallbacks\n")
        assert s.records() == []
    finally:
        s.close()


def test_before_the_arrays_exist_the_xenheap_is_the_direct_map(arrays_sim):
    s, h = arrays_sim, arrays_sim.h
    early = s.xalloc(2)
    assert not s.on_window(early)
    h.xv_init()
    assert h.xv_active()
    late = s.xalloc(2)
    assert s.on_window(late)
    # The early allocation is freed through the direct map as ever.
    mfn = h.virt_to_page(s.ptr(early))
    s.xfree_pages(early, 2)
    s.xfree_pages(late, 2)
    assert h.frames_inuse(mfn, 4) == 0 and s.tracked() == []


@pytest.fixture
def arrays_sim(xh):
    """A patched tree's machine before xenheap_vmap_init()."""
    assert "xenheap-track" in xh.traits
    s = Sim(xh, init=False)
    xh.vm_init(0)
    yield s
    leftover = s.records()
    s.close()
    assert leftover == []


@pytest.mark.parametrize("order,points", [(0, 1), (10, 2)])
def test_every_allocation_of_alloc_xenheap_pages_may_fail(xsim, order, points):
    """NULL and nothing changed, whichever allocation fails: the frames;
    on vmap also the bitmap's, the page tables' and virt->page's."""
    s = xsim
    failures = sweep(s, s.h.fail_alloc, s.h.lib.H_HEAP_FAILS, lambda: s.xalloc(order),
                     lambda va: s.xfree_pages(va, order))
    # Order 0 needs only its frame; order 10 lands at page 1024 (the first
    # 4M-aligned fit), whose virt->page entries need a new page.
    assert failures == (points if s.on_vmap else 1)


@pytest.mark.needs("xenheap-vmap")
@pytest.mark.parametrize("order", [0, 2, 9])
def test_a_mapping_that_fails_is_undone_in_the_region(vsim, order):
    """__vmap() undoes a mapping that fails part of the way: in
    VMAP_XENHEAP, which vunmap() does not serve, it must unmap and free
    there, without a warning.  The allocation then falls back to the
    direct map, and freeing it leaves the region as it was."""
    s = vsim
    fallbacks = s.h.xv_fallbacks()
    failures = sweep(s, s.h.fail_map, s.h.lib.H_MAP_FAILS, lambda: s.xalloc(order),
                     lambda va: s.xfree_pages(va, order))
    assert failures == 1
    assert s.h.xv_fallbacks() == fallbacks + 1

def test_a_free_that_cannot_unmap_leaks_the_pages(vsim):
    """Freeing part of a 2M allocation splits its superpage, which needs a
    page-table page.  Without one, vunmap_partial() fails and WARNs, and
    free_xenheap_pages() must keep the pages: allocated, mapped and
    tracked, never back in the heap while still mapped.  Under no-trim the
    only free is of the whole allocation, which on 4.17 splits the
    superpage just the same (x86 writes non-present 4K PTEs):
    vunmap_xenheap() fails and WARNs likewise.  Later trees clear it whole,
    so no-trim's free cannot fail for want of memory there
    (test_a_whole_superpage_is_freed_without_memory)."""
    s, h = vsim, vsim.h
    if "vmap-partial" not in h.traits and not s.unmap_shatters:
        pytest.skip("no-trim's only free cannot fail on a tree that unmaps a superpage whole")
    va = s.xalloc(9)
    mfn = h.vmap_to_mfn(s.ptr(va))
    assert s.level(va) == 2
    order, first = (2, 8) if "vmap-partial" in h.traits else (9, 0)
    before = s.snapshot()
    h.fail_alloc(1)
    s.xfree_pages(va + first * PAGE, order)
    h.fail_alloc(0)
    recs = s.records()
    freed = h.frames_inuse(mfn + first, 1 << order) == 0
    mapped = h.vmap_to_mfn(s.ptr(va + first * PAGE)) == mfn + first
    assert [(r.kind, r.file) for r in recs] == [("WARN", "xen/common/vmap.c")], recs
    assert "cannot unmap" in h.log()[-1]
    assert s.snapshot() == before, "the pages are kept, as they were"
    assert not freed and mapped
    s.xfree_pages(va + first * PAGE, order)  # with memory, it goes
    assert h.frames_inuse(mfn + first, 1 << order) == 0
    for sub in range(0, 512, 4) if first else ():
        if sub != first:
            s.xfree_pages(va + sub * PAGE, 2)
    assert h.frames_inuse(mfn, 512) == 0


NEVER = (1 << 64) - 1  # h.preempt_at(): count the points, run nothing


def another_cpu_at_every_point(s: Sim, order: int) -> int:
    """Free a 2^order xenheap allocation once for every point where the
    freeing CPU holds no lock, with another CPU allocating 2^order pages at
    that point.  The other CPU's allocation must be whole whatever the
    point: every page converts both ways.  Returns how many points handed
    the other CPU the very range being freed."""
    h, n = s.h, 1 << order
    va = s.xalloc(order)
    h.preempt_at(NEVER, order)
    s.xfree_pages(va, order)
    points = h.preempt_points()
    assert points >= 1, "a free releases its VA under vm_lock"
    reused = 0
    for k in range(1, points + 1):
        va = s.xalloc(order)
        h.preempt_at(k, order)
        s.xfree_pages(va, order)
        assert h.preempt_fired(), f"point {k} of {points} was not reached"
        other = s.addr(h.preempt_result())
        assert other, f"the other CPU's allocation failed at point {k}"
        reused += other == va
        mfn = h.vmap_to_mfn(s.ptr(other))
        for i in range(n):
            assert h.virt_to_page(s.ptr(other + i * PAGE)) == mfn + i, \
                f"point {k}: the other CPU's page {i} lost its virt->page"
            assert s.addr(h.page_to_virt(mfn + i)) == other + i * PAGE, \
                f"point {k}: the other CPU's page {i} lost its page->virt"
        s.xfree_pages(other, order)
    h.preempt_at(0, 0)
    return reused


@pytest.mark.parametrize("order", [0, 3])
def test_another_cpu_between_the_critical_sections_of_a_free(vsim, order):
    """free_xenheap_pages() releases the VA under vm_lock and tracks pages
    outside it.  Another CPU that gets in between may be handed the range
    being freed and track it as its own: the freeing CPU must not touch the
    tracking after that.  At least one point must hand the range over, or
    the test would prove nothing."""
    assert another_cpu_at_every_point(vsim, order) >= 1
