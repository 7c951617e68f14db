"""The xenheap series' arrays (xen/arch/x86/xenheap-vmap.c) and the tree's
x86 conversions that read them, on the patched trees: page->virt backed
for the PDX groups that hold RAM, virt->page backed on demand, track /
untrack / lookup, and virt_to_page() / page_to_virt() / virt_to_maddr() /
virt_to_pdx() / pdx_to_virt() agreeing for direct-map and vmap addresses
of xenheap pages, with the ASSERT for a vmap address that is none."""

from __future__ import annotations

import pytest

from gen.harness import XenTrap
from gen.sim import INVALID, PAGE, Sim

ERANGE, ENOMEM = 34, 12
GROUP = 1 << 16  # frames per PDX group (2M of 32-byte page_info)
REV_PER_PAGE = PAGE // 4


@pytest.fixture
def arrays(xh):
    assert "xenheap-track" in xh.traits
    return xh


@pytest.fixture
def holed(arrays):
    """1G of RAM in four PDX groups, the third one a hole, xenheap on vmap."""
    s = Sim(arrays, ram_pages=4 * GROUP, holes=1 << 2, xenheap_vmap=True)
    yield s
    leftover = s.records()
    s.close()
    assert leftover == []


def read(sim: Sim, va: int, n: int = 4) -> int | None:
    got = sim.read(va, n)
    return None if got is None else int.from_bytes(got, "little")


def fwd_entry(sim: Sim, pdx: int) -> int | None:
    return read(sim, sim.layout("H_FWD_START") + 4 * pdx)


def rev_entry(sim: Sim, idx: int) -> int | None:
    return read(sim, sim.layout("H_REV_START") + 4 * idx)


def test_the_layout_is_x86s(vsim):
    """vmap below the Xen image, with the xenheap's region in it, the arrays
    right after the image, then the frame table and the direct map, as the
    series' asm/config.h has them."""
    s = vsim
    order = [s.layout("H_VMAP_VIRT_START"), s.base(), s.xh.base,
             s.xh.base + s.xh.vm_end * PAGE, s.layout("H_VMAP_VIRT_END"),
             s.layout("H_XEN_VIRT_START"), s.layout("H_XEN_VIRT_END"),
             s.layout("H_FWD_START"), s.layout("H_FWD_END"), s.layout("H_REV_START"),
             s.layout("H_REV_END"), s.layout("H_FRAMETABLE_VIRT_START"),
             s.layout("H_DIRECTMAP_VIRT_START")]
    assert order == sorted(order)
    assert s.layout("H_FWD_START") == s.layout("H_XEN_VIRT_END")
    assert s.layout("H_REV_START") == s.layout("H_FWD_END")
    assert s.xh.base > s.base(), "the xenheap has a region of its own"
    # 4 bytes of virt->page per page of the vmap area.
    area = s.layout("H_VMAP_VIRT_END") - s.layout("H_VMAP_VIRT_START")
    assert s.layout("H_REV_END") - s.layout("H_REV_START") == area // PAGE * 4


def test_init_backs_page_virt_for_the_groups_that_hold_ram(holed):
    s, h = holed, holed.h
    assert h.xv_active()
    assert [h.xv_fwd_backed(g) for g in range(5)] == [1, 1, 0, 1, 0]
    group_pages = GROUP * 4 // PAGE
    mapped = {r.offset + i for r in s.array_runs() for i in range(r.pages)}
    fwd = {g * group_pages + i for g in (0, 1, 3) for i in range(group_pages)}
    # The page of virt->page for the start of the xenheap's region.
    rev_page = (s.xh.base - s.layout("H_VMAP_VIRT_START")) // PAGE // (PAGE // 4)
    assert mapped - fwd == {(s.layout("H_REV_START") - s.layout("H_FWD_START")) // PAGE
                            + rev_page}, \
        "beyond page->virt, only the first page of the region's virt->page (xmalloc's pool)"
    assert fwd <= mapped
    # The hole has neither page->virt nor, as in Xen, frame table entries.
    assert fwd_entry(s, 2 * GROUP) is None and fwd_entry(s, 3 * GROUP) == 0
    assert s.read(s.layout("H_FRAMETABLE_VIRT_START") + 2 * GROUP * 32, 1) is None
    assert any("page->virt 768kB for 3 PDX groups" in line for line in h.log())
    # Nothing can be tracked for a page in the hole.
    assert h.xv_track(s.ptr(s.va(5000)), 2 * GROUP + 7, 1) == -ERANGE
    assert h.xv_lookup(s.ptr(s.va(5000))) == INVALID


def test_hot_added_memory_gets_page_virt(holed):
    s, h = holed, holed.h
    assert h.xv_extend(2 * GROUP + 100, 2 * GROUP + 200) == 0
    assert h.xv_fwd_backed(2) and fwd_entry(s, 2 * GROUP) == 0
    va = s.ptr(s.va(5000))
    assert h.xv_track(va, 2 * GROUP + 7, 1) == 0 and h.xv_lookup(va) == 2 * GROUP + 7
    h.xv_untrack(va, 2 * GROUP + 7, 1)


def test_the_option_off_leaves_the_xenheap_in_the_direct_map(arrays):
    s = Sim(arrays, init=False)
    try:
        h = s.h
        h.vm_init(0)
        h.xv_set_opt(0)
        h.xv_init()
        assert not h.xv_active() and s.array_runs() == []
        assert h.log()[-1] == "<I>Xenheap on vmap: disabled\n"  # at XENLOG_INFO
        va = s.xalloc(2)
        assert s.layout("H_DIRECTMAP_VIRT_START") <= va and s.tracked() == []
        s.xfree_pages(va, 2)
        assert s.records() == []
    finally:
        s.close()


def test_init_without_memory_leaves_the_xenheap_in_the_direct_map(arrays):
    s = Sim(arrays, init=False)
    try:
        h = s.h
        h.vm_init(0)
        h.fail_alloc(3)  # part way through page->virt
        h.xv_init()
        h.fail_alloc(0)
        assert not h.xv_active()
        assert "no memory for page->virt" in h.log()[-1]
        assert not s.on_window(s.xalloc(0))
        assert s.records() == []
    finally:
        s.close()


def test_track_untrack_and_lookup(vsim):
    s, h = vsim, vsim.h
    idx = 3 * REV_PER_PAGE + 5  # in a page of virt->page nobody backed yet
    va, pdx = s.va(idx), 40000
    assert not h.xv_rev_backed(3)
    assert h.xv_track(s.ptr(va), pdx, 4) == 0
    assert h.xv_rev_backed(3), "virt->page is backed on demand"
    for i in range(4):
        assert h.xv_lookup(s.ptr(va + i * PAGE + 123)) == pdx + i  # any address in the page
        assert fwd_entry(s, pdx + i) == idx + i and rev_entry(s, idx + i) == pdx + i
    assert h.xv_lookup(s.ptr(va - PAGE)) == INVALID
    assert h.xv_lookup(s.ptr(va + 4 * PAGE)) == INVALID

    h.xv_untrack(s.ptr(va + PAGE), pdx + 1, 2)  # part of it
    assert [h.xv_lookup(s.ptr(va + i * PAGE)) for i in range(4)] == \
        [pdx, INVALID, INVALID, pdx + 3]
    assert fwd_entry(s, pdx + 1) == 0 and rev_entry(s, idx + 1) == 0
    h.xv_untrack(s.ptr(va), pdx, 1)
    h.xv_untrack(s.ptr(va + 3 * PAGE), pdx + 3, 1)
    assert all(h.xv_lookup(s.ptr(va + i * PAGE)) == INVALID for i in range(4))
    assert s.rev_entries() == [(i, p) for p, i, _r in s.tracked()]


def test_lookup_rejects_stale_and_index_zero(vsim):
    s, h = vsim, vsim.h
    a, b, pdx = s.va(5000), s.va(6000), 50000
    assert h.xv_track(s.ptr(a), pdx, 1) == 0
    # The page moves: virt->page at a still says pdx, page->virt no longer
    # points back at it.
    assert h.xv_track(s.ptr(b), pdx, 1) == 0
    assert rev_entry(s, 5000) == pdx and h.xv_lookup(s.ptr(a)) == INVALID
    assert h.xv_lookup(s.ptr(b)) == pdx
    h.xv_untrack(s.ptr(b), pdx, 1)
    # Index 0 is the vmap bitmap's first page, and means "none" in page->virt.
    assert h.xv_track(s.ptr(s.base()), pdx, 1) == -ERANGE
    assert h.xv_lookup(s.ptr(s.base())) == INVALID
    # Outside the vmap area.
    end = s.layout("H_VMAP_VIRT_END")
    assert h.xv_lookup(s.ptr(s.base() - PAGE)) == INVALID
    assert h.xv_lookup(s.ptr(end)) == INVALID
    assert h.xv_track(s.ptr(end - PAGE), pdx, 2) == -ERANGE
    assert h.xv_track(s.ptr(a), pdx, 0) == -ERANGE
    # A page that page->virt does not cover: at or above HYPERVISOR_VIRT_END
    # in the direct map (the shim's is the end of its direct map).
    nr = (s.layout("H_DIRECTMAP_VIRT_END") - s.layout("H_DIRECTMAP_VIRT_START")) // PAGE
    assert h.xv_track(s.ptr(a), nr - 1, 2) == -ERANGE
    assert h.xv_track(s.ptr(a), nr, 1) == -ERANGE
    assert h.xv_lookup(s.ptr(a)) == INVALID


def test_tracking_fails_cleanly_without_memory_for_virt_to_page(vsim):
    s, h = vsim, vsim.h
    va = s.ptr(s.va(7 * REV_PER_PAGE))
    h.fail_alloc(1)
    assert h.xv_track(va, 60000, 2) == -ENOMEM
    h.fail_alloc(0)
    assert not h.xv_rev_backed(7) and h.xv_lookup(va) == INVALID
    assert fwd_entry(s, 60000) == 0


def test_report_counts_what_is_tracked(vsim):
    s, h = vsim, vsim.h
    before = s.tracked()
    a, b = s.xalloc(0), s.xalloc(3)
    assert h.xv_report() == 0
    pages = len(before) + 9
    runs = len({i - k for k, (_p, i, _r) in enumerate(sorted(s.tracked(), key=lambda t: t[1]))})
    assert h.log()[-1] == \
        f"<I>Xenheap on vmap: {pages} pages in {runs} allocations, 0 fallbacks\n"
    s.xfree_pages(a, 0)
    s.xfree_pages(b, 3)


# The conversions.


def conversions(s: Sim, va: int) -> tuple[int, int, int]:
    h = s.h
    return (h.virt_to_page(s.ptr(va)), h.virt_to_maddr(s.ptr(va)), h.virt_to_pdx(s.ptr(va)))


@pytest.mark.parametrize("order", [0, 2, 9])
def test_conversions_agree_for_both_addresses_of_a_xenheap_page(vsim, order):
    s, h = vsim, vsim.h
    va = s.xalloc(order)
    assert s.on_window(va)
    mfn = h.vmap_to_mfn(s.ptr(va))
    for k in sorted({0, 1, (1 << order) - 1}):
        if k >= 1 << order:
            continue
        alias = s.addr(h.frame_ptr(mfn + k))
        for base in (va + k * PAGE, alias):
            assert conversions(s, base + 0x123) == (mfn + k, ((mfn + k) << 12) + 0x123, mfn + k)
        # Back from the page: the vmap address, not the alias.
        assert s.addr(h.page_to_virt(mfn + k)) == va + k * PAGE
        assert s.addr(h.pdx_to_virt(mfn + k)) == va + k * PAGE
    s.xfree_pages(va, order)
    # Untracked again: the direct map.
    assert s.addr(h.page_to_virt(mfn)) == s.addr(h.frame_ptr(mfn))
    assert s.addr(h.pdx_to_virt(mfn)) == s.addr(h.frame_ptr(mfn))


def test_conversions_of_pages_only_in_the_direct_map(vsim):
    s, h = vsim, vsim.h
    mfn = s.frames(1)[0]  # a domheap page
    dm = s.addr(h.frame_ptr(mfn))
    assert conversions(s, dm + 8) == (mfn, (mfn << 12) + 8, mfn)
    assert s.addr(h.page_to_virt(mfn)) == dm and s.addr(h.pdx_to_virt(mfn)) == dm
    va = s.xalloc(1, h.memf_directmap())  # a xenheap page kept in the direct map
    assert not s.on_window(va)
    x = h.virt_to_page(s.ptr(va))
    assert s.addr(h.page_to_virt(x)) == va and conversions(s, va)[1] == x << 12
    s.xfree_pages(va, 1)
    s.free_frames([mfn])
    # The Xen image range converts as before (xen_phys_start is 0 here).
    assert h.virt_to_maddr(s.ptr(s.layout("H_XEN_VIRT_START") + 0x5000)) == 0x5000


def trapped_in(s: Sim, call, where: str, text: str) -> None:
    with pytest.raises(XenTrap, match="ASSERT") as trap:
        call()
    rec = trap.value.record
    assert rec.file == where, rec
    line = (s.h.spec.root / rec.file).read_text().splitlines()[rec.line - 1]
    assert text in line, line
    s.records()


@pytest.mark.parametrize("what", ["hole", "freed"])
@pytest.mark.parametrize("conv", ["virt_to_page", "virt_to_maddr", "virt_to_pdx"])
def test_a_region_address_that_is_no_xenheap_page_fails_the_assert(vsim, what, conv):
    """In the xenheap's region, an address that maps no xenheap page."""
    s, h = vsim, vsim.h
    if what == "hole":
        va = s.xh.va(s.xh.vm_end // 2)
    else:
        va = s.xalloc(0)
        s.xfree_pages(va, 0)
    trapped_in(s, lambda: getattr(h, conv)(s.ptr(va)), "xen/arch/x86/xenheap-vmap.c",
               "ASSERT(pdx != XENHEAP_VMAP_NO_PDX)")


@pytest.mark.parametrize("region", ["VMAP_DEFAULT", "VMAP_XEN"])
def test_another_regions_address_fails_mm_hs_assert(vsim, region):
    """The other regions are below XEN_VIRT_START too: their addresses are
    no xenheap pages, as without the series."""
    s, h = vsim, vsim.h
    if region == "VMAP_XEN":
        h.vm_init(1)
        va = s.addr(h.vmalloc_xen(PAGE))
    else:
        va = s.addr(h.vmalloc(PAGE))
    mm_h = "xen/arch/x86/include/asm/mm.h"
    trapped_in(s, lambda: h.virt_to_page(s.ptr(va)), mm_h, "ASSERT(va >= XEN_VIRT_START)")
    h.vfree(s.ptr(va))


def test_before_init_the_conversions_know_no_vmap(arrays):
    s = Sim(arrays)  # the xenheap arrays not set up
    try:
        va = s.addr(s.h.vmalloc(PAGE))
        trapped_in(s, lambda: s.h.virt_to_page(s.ptr(va)), "xen/arch/x86/include/asm/mm.h",
                   "ASSERT(va >= XEN_VIRT_START)")
        s.h.vfree(s.ptr(va))
        assert s.records() == []
    finally:
        s.close()
