"""vmap.c as every tree has it: vmap/vunmap/vmalloc/vfree/vmap_size, the
data path through the simulated MMU, guard pages, growth of the bitmap and
exhaustion of the region."""

from __future__ import annotations

import pytest

from gen import baseline
from gen.harness import XenTrap
from gen.sim import (
    BITMAP_PAGE_BITS,
    INVALID,
    PAGE,
    RAM_PAGES,
    SUPER_PAGES,
    VMAP_DEFAULT,
    VMAP_XEN,
    Sim,
)

from .model import Model, check


def model_of(sim: Sim) -> Model:
    return Model(end=sim.vm_end, reserved=sim.bitmap_pages, top=sim.vm_top)


def test_the_region_starts_with_its_bitmap(sim):
    assert sim.vm_end == sim.window_pages
    assert sim.bitmap_pages == sim.window_pages // BITMAP_PAGE_BITS == 8
    assert sim.vm_top == BITMAP_PAGE_BITS  # one bitmap page, grown later
    assert sim.vm_low == sim.bitmap_pages
    assert sim.bitmap() == model_of(sim).bits()
    assert [r.pages for r in sim.runs()] == [1]  # only the first bitmap page is mapped


def test_vmap_maps_the_frames_at_the_first_fit(sim):
    m = model_of(sim)
    mfns = sim.frames(3)
    va = sim.vmap(mfns)
    assert sim.idx(va) == m.fit(3, 1) == sim.bitmap_pages + 1  # after one guard page
    m.add(sim.idx(va), mfns, vmalloc=False)
    check(sim, m, RAM_PAGES - 1)
    for i, mfn in enumerate(mfns):
        assert sim.h.vmap_to_mfn(sim.ptr(va + i * PAGE)) == mfn
        assert sim.level(va + i * PAGE) == 1
        assert sim.write(va + i * PAGE, PAGE, 0x11 * (i + 1))
    for i, mfn in enumerate(mfns):
        assert sim.frame(mfn) == bytes([0x11 * (i + 1)]) * PAGE


def test_guard_pages_fault(sim):
    a = sim.vmap(sim.frames(2))
    b = sim.vmap(sim.frames(2))
    assert sim.idx(b) == sim.idx(a) + 3  # a, a+1, guard, b
    for va in (a - PAGE, a + 2 * PAGE, b + 2 * PAGE):
        assert sim.read(va, 1) is None and sim.write(va, 1, 0xff) is False
        assert sim.h.fault_addr() == va
    for va in (a, a + PAGE, b, b + PAGE):
        assert sim.read(va, 1) is not None


def test_vunmap_unmaps_flushes_and_reuses_the_range(sim):
    before = sim.snapshot()
    mfns = sim.frames(4)
    va = sim.vmap(mfns)
    flushes = sim.h.counter(sim.h.lib.H_TLB_FLUSHES)
    destroys = sim.h.counter(sim.h.lib.H_PT_DESTROYS)
    # vm_index() masks the page offset; Arm's destroy_xen_mappings() does
    # not (test_vunmap_of_an_address_inside_the_first_page).
    sim.h.vunmap(sim.ptr(va + (123 if sim.arch == "x86_64" else 0)))
    # x86 maps the range to nothing; Arm destroys the mappings.
    assert sim.h.counter(sim.h.lib.H_PT_DESTROYS) - destroys == (sim.arch == "arm64")
    # x86 flushes each present leaf as it unmaps it, Arm the range once.
    assert sim.h.counter(sim.h.lib.H_TLB_FLUSHES) - flushes == \
        (4 if sim.arch == "x86_64" else 1)
    assert all(sim.read(va + i * PAGE, 1) is None for i in range(4))
    sim.free_frames(mfns)
    assert sim.snapshot().bitmap == before.bitmap
    assert sim.vm_low == before.vm_low
    again = sim.vmap(sim.frames(4))
    assert again == va  # the same VA, after the flush: no violation recorded


def test_vmalloc_and_vfree_conserve_pages(sim):
    before = sim.snapshot()
    va = sim.addr(sim.h.vmalloc(5 * PAGE - 100))
    assert va and sim.bit(sim.idx(va)) and sim.bit(sim.idx(va) + 4)
    assert not sim.bit(sim.idx(va) + 5)  # five pages, then the bit after stays clear
    mfns = [sim.h.vmap_to_mfn(sim.ptr(va + i * PAGE)) for i in range(5)]
    assert INVALID not in mfns and len(set(mfns)) == 5
    assert sim.h.ram_free_pages() == before.free_pages - 5
    sim.h.vfree(sim.ptr(va))
    after = sim.snapshot()
    assert after.free_pages == before.free_pages
    assert after.bitmap == before.bitmap and after.runs == before.runs


def test_vzalloc_clears_recycled_frames(sim):
    va = sim.addr(sim.h.vmalloc(3 * PAGE))
    assert sim.write(va, 3 * PAGE, 0xee)
    sim.h.vfree(sim.ptr(va))
    va = sim.addr(sim.h.vzalloc(3 * PAGE))
    assert sim.read(va, 3 * PAGE) == bytes(3 * PAGE)
    sim.h.vfree(sim.ptr(va))


def test_the_size_of_a_mapping(sim, source):
    """vm_size(), which xvfree() and _xvrealloc() rely on where the tree
    has them, knows a mapping by its first page only; vmap_size(), where
    the tree has it, says the same."""
    va = sim.addr(sim.h.vmalloc(7 * PAGE))
    assert sim.h.vm_size(sim.ptr(va), VMAP_DEFAULT) == 7
    assert sim.h.vm_size(sim.ptr(va + 100), VMAP_DEFAULT) == 7  # any address in the page
    assert sim.h.vm_size(sim.ptr(va + PAGE), VMAP_DEFAULT) == 0  # not the start of a mapping
    assert sim.h.vm_size(sim.ptr(va), VMAP_XEN) == 0  # not in that region
    if baseline.probe(source.root).has("vmap_size"):
        assert sim.h.vmap_size(sim.ptr(va)) == 7
        assert sim.h.vmap_size(sim.ptr(va + PAGE)) == 0
    sim.h.vfree(sim.ptr(va))


def test_vmalloc_xen_needs_its_region(sim):
    assert sim.addr(sim.h.vmalloc_xen(PAGE)) == 0
    sim.h.vm_init(VMAP_XEN)
    va = sim.addr(sim.h.vmalloc_xen(2 * PAGE))
    assert sim.base(VMAP_XEN) < va < sim.base(VMAP_XEN) + sim.window_pages * PAGE
    # Each region is its own: the default one did not move.
    assert sim.vm_low == sim.bitmap_pages
    sim.h.vfree(sim.ptr(va))


def test_vunmap_of_an_address_inside_the_first_page(sim):
    """vunmap() finds the mapping of any address in its first page.  x86
    then unmaps from the page's start; Arm hands destroy_xen_mappings() the
    address as given, which trips its ASSERT: in a release build it returns
    -EINVAL, nobody looks, and vm_free() frees the VA with its frames
    still mapped (see the README's audit), unless the tree has the fixes
    series' vunmap-align."""
    mfns = sim.frames(2)
    va = sim.vmap(mfns)
    if sim.arch == "x86_64" or "vunmap-align" in sim.h.traits:
        sim.h.vunmap(sim.ptr(va + 123))
        assert sim.read(va, 1) is None
    else:
        with pytest.raises(XenTrap, match=r"ASSERT\(IS_ALIGNED\(s, PAGE_SIZE\)\)"):
            sim.h.vunmap(sim.ptr(va + 123))
        sim.h.records()
        assert sim.read(va, 1) is not None, "the ASSERT stopped the teardown"
        sim.h.vunmap(sim.ptr(va))
    sim.free_frames(mfns)


def test_a_region_holds_what_its_size_says(sim):
    """VMAP_XEN at the size each architecture gives it: a 1G window here on
    x86, Arm's 2M (512 pages) livepatch area.  vm_init_type() sets vm_top
    to the bits of whole bitmap pages, 32768, which for a region of 512
    pages is past its end; vm_alloc() grows vm_top only up to vm_end, but
    never clamps the first one.  So on Arm an allocation that does not fit
    is handed the VA after the region's end (see the README's audit),
    unless the tree has the fixes series' vm-init-top."""
    sim.h.vm_init(VMAP_XEN)
    pages = sim.h.region_pages(VMAP_XEN)
    assert pages == (512 if sim.arch == "arm64" else sim.window_pages)
    end = sim.base(VMAP_XEN) + pages * PAGE
    big = sim.addr(sim.h.vmalloc_xen(600 * PAGE))
    if sim.arch == "x86_64":
        assert sim.base(VMAP_XEN) < big and big + 600 * PAGE <= end
    elif "vm-init-top" in sim.h.traits:
        assert not big, "600 pages do not fit in 512"
    else:
        assert big + 600 * PAGE > end, "the allocation fits: the bug is fixed"
    sim.h.vfree(sim.ptr(big))


def test_the_bitmap_grows_past_its_first_page(sim):
    """65 superpage chunks (33280 pages) outgrow the 32768 bits of the
    first bitmap page; unmapping them shatters the superpages as x86 Xen
    4.17 does (map_pages_to_xen with INVALID_MFN)."""
    m = model_of(sim)
    blocks = sim.frames(65, order=9)
    va = sim.vmap(blocks, align=SUPER_PAGES, granularity=SUPER_PAGES)
    start = m.fit(65 * SUPER_PAGES, SUPER_PAGES)
    assert sim.idx(va) == start == SUPER_PAGES  # the first 2M-aligned page after the guard
    mfns = [b + i for b in blocks for i in range(SUPER_PAGES)]
    m.add(start, mfns, vmalloc=False)
    assert sim.vm_top == 2 * BITMAP_PAGE_BITS
    check(sim, m, RAM_PAGES - 1)
    assert sim.level(va) == sim.level(va + 64 * SUPER_PAGES * PAGE) == 2
    last = va + (65 * SUPER_PAGES - 1) * PAGE
    assert sim.write(last, 8, 0x42) and sim.frame(mfns[-1], 8) == b"\x42" * 8

    tables = sim.h.counter(sim.h.lib.H_PT_PAGES)
    sim.h.vunmap(sim.ptr(va))
    # x86 splits each chunk to map its pages to nothing where INVALID_MFN's
    # bits count against the alignment (ARCH_FACTS); later x86 and Arm's
    # destroy_xen_mappings() remove whole superpages.
    split = 65 if sim.unmap_shatters else 0
    assert sim.h.counter(sim.h.lib.H_PT_PAGES) == tables + split
    assert sim.level(va) == (1 if split else 2) and sim.read(last, 1) is None
    for b in blocks:
        sim.h.free_domheap_pages(b, 9)
    m.release(start, len(mfns))
    check(sim, m, RAM_PAGES - 1)


def test_exhaustion_returns_null_and_leaks_nothing(sim):
    """Fill the region with 64-chunk allocations of one 2M block mapped over
    and over; the one that does not fit fails cleanly, every time."""
    block = sim.frames(1, order=9)
    m = model_of(sim)
    vas = []
    while (va := sim.vmap(block * 64, align=SUPER_PAGES, granularity=SUPER_PAGES)):
        start = m.fit(64 * SUPER_PAGES, SUPER_PAGES)
        assert sim.idx(va) == start
        m.add(start, list(range(64 * SUPER_PAGES)), vmalloc=False)
        vas.append(va)
    assert m.fit(64 * SUPER_PAGES, SUPER_PAGES) is None and len(vas) == 7
    assert sim.vm_top == sim.vm_end  # the failed search grew the bitmap to its end
    one = sim.frames(1)
    before = sim.snapshot()
    assert sim.vmap(block * 64, align=SUPER_PAGES, granularity=SUPER_PAGES) == 0
    assert sim.vmap(one * (sim.vm_end + 1)) == 0  # larger than the region
    assert sim.snapshot() == before
    sim.free_frames(one)
    for va in vas:
        sim.h.vunmap(sim.ptr(va))
    sim.h.free_domheap_pages(block[0], 9)
    assert sim.bitmap() == Model(sim.vm_end, sim.bitmap_pages, sim.vm_top).bits()
    held = sim.h.ram_free_pages() + sim.h.counter(sim.h.lib.H_PT_PAGES) + \
        sim.bitmap_pages + sim.h.ram_xenheap_pages()
    assert held == RAM_PAGES - 1, "pages leaked"  # all but frame 0
