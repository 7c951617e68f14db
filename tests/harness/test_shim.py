"""The shim itself: simulated RAM, the page tables and their host mirror,
the probes, and the records.  The tests of the Xen code trust these."""

from __future__ import annotations

import pytest

from gen.harness import XenTrap
from gen.sim import INVALID, PAGE, RAM_PAGES, SUPER_PAGES, Sim

P, RW = 1 << 0, 1 << 1


@pytest.fixture
def bare(xh):
    """A machine without any vmap region: the windows are all ours."""
    s = Sim(xh, init=False)
    yield s
    leftover = s.records()
    s.close()
    assert leftover == []


def test_buddy_blocks_are_naturally_aligned_and_split_freely(bare):
    h = bare.h
    free = h.ram_free_pages()
    assert h.ram_pages() == RAM_PAGES
    assert free + h.counter(h.lib.H_PT_PAGES) == RAM_PAGES - 1  # frame 0 is reserved
    blocks = {order: h.alloc_domheap_pages(order) for order in (0, 3, 9, 12)}
    for order, mfn in blocks.items():
        assert mfn % (1 << order) == 0 and h.frames_inuse(mfn, 1 << order) == 1 << order
    m = blocks[3]
    h.free_domheap_pages(m + 4, 2)  # the upper half, then quarters of the rest
    h.free_domheap_pages(m + 2, 1)
    h.free_domheap_pages(m, 0)
    h.free_domheap_pages(m + 1, 0)
    for order in (0, 9, 12):
        h.free_domheap_pages(blocks[order], order)
    assert h.ram_free_pages() == free
    big = h.alloc_domheap_pages(16)  # everything merged back
    assert big != INVALID
    h.free_domheap_pages(big, 16)


def test_a_double_free_is_a_bug_at_the_callers_line(bare):
    h = bare.h
    mfn = h.alloc_domheap_pages(1)
    h.free_domheap_pages(mfn, 1)
    with pytest.raises(XenTrap, match="not allocated") as trap:
        h.free_domheap_pages(mfn, 1)
    assert trap.value.record.kind == "BUG" and trap.value.record.file.endswith("api.c")
    with pytest.raises(XenTrap, match="naturally aligned"):
        h.free_domheap_pages(h.alloc_domheap_pages(2) + 1, 1)
    bare.records()


def test_the_nth_allocation_fails(bare):
    h = bare.h
    h.fail_alloc(3)
    got = [h.alloc_domheap_pages(0) for _ in range(4)]
    assert got[2] == INVALID and INVALID not in got[:2] + got[3:]
    assert h.counter(h.lib.H_HEAP_FAILS) == 1


def test_the_boot_allocator(xh):
    s = Sim(xh, boot_pages=64, init=False)
    h = s.h
    try:
        heap = h.ram_free_pages()
        mfn = h.alloc_boot_pages(4, 4)
        assert mfn % 4 == 0 and mfn >= RAM_PAGES - 64 and h.frames_inuse(mfn, 4) == 4
        h.init_boot_pages(mfn, 4)
        h.end_boot()
        assert h.ram_free_pages() == heap + 64
        with pytest.raises(XenTrap, match="boot allocator exhausted"):
            h.alloc_boot_pages(1, 1)
        assert s.records()[-1].kind == "BUG"
    finally:
        s.close()


def test_vm_init_in_early_boot_takes_boot_pages(xh, source):
    s = Sim(xh, boot_pages=64, init=False)
    h = s.h
    try:
        h.set_system_state(0)  # SYS_STATE_early_boot
        heap = h.ram_free_pages()
        h.vm_init(0)
        boot = "alloc_boot_pages" in (source.root / "xen/common/vmap.c").read_text()
        # Trees that know early boot take the bitmap page from the boot
        # allocator; older ones always use the heap.
        assert h.counter(h.lib.H_BOOT_ALLOCS) == (1 if boot else 0)
        tables = h.counter(h.lib.H_PT_PAGES) - 1
        assert h.ram_free_pages() == heap - tables - (0 if boot else 1)
    finally:
        s.close()


def test_4k_mappings_reach_frames_and_modify_changes_rights(bare):
    h, va = bare.h, bare.base(0)
    mfns = bare.frames(2)
    assert h.map_pages_to_xen(va, mfns[0], 1, h.page_hypervisor()) == 0
    assert h.map_pages_to_xen(va + PAGE, mfns[1], 1, h.page_hypervisor()) == 0
    assert bare.level(va) == 1 and h.vmap_to_mfn(bare.ptr(va + PAGE)) == mfns[1]
    assert h.pte(va, bare.ffi.NULL) & 0xFFF == h.page_hypervisor() & 0xFFF
    assert h.pte(va, bare.ffi.NULL) >> 63 == 1  # NX
    assert bare.write(va + PAGE, 4, 0x77) and bare.frame(mfns[1], 4) == b"\x77" * 4
    flushes = h.counter(h.lib.H_TLB_FLUSHES)
    assert h.modify_xen_mappings(va, va + 2 * PAGE, h.page_hypervisor_ro()) == 0
    assert h.counter(h.lib.H_TLB_FLUSHES) == flushes + 1
    assert bare.read(va, 1) is not None and not bare.write(va, 1, 0)  # read-only now
    assert h.destroy_xen_mappings(va, va + 2 * PAGE) == 0
    assert bare.read(va, 1) is None and h.vmap_to_mfn(bare.ptr(va)) == INVALID


def test_superpages_are_made_when_aligned_and_split_by_a_partial_unmap(bare):
    h, va = bare.h, bare.base(0)
    block = bare.frames(1, order=9)[0]
    tables = h.counter(h.lib.H_PT_PAGES)
    assert h.map_pages_to_xen(va, block, SUPER_PAGES, h.page_hypervisor()) == 0
    assert bare.level(va) == 2 and h.counter(h.lib.H_PT_PAGES) == tables + 2  # L3, L2
    assert h.destroy_xen_mappings(va + 8 * PAGE, va + 16 * PAGE) == 0
    assert bare.level(va) == 1 and h.counter(h.lib.H_PT_PAGES) == tables + 3
    assert [(r.offset, r.pages, r.mfn) for r in bare.runs(0, SUPER_PAGES)] == \
        [(0, 8, block), (16, SUPER_PAGES - 16, block + 16)]
    assert bare.read(va + 10 * PAGE, 1) is None and bare.read(va + 20 * PAGE, 1) is not None
    assert h.destroy_xen_mappings(va, va + SUPER_PAGES * PAGE) == 0
    assert h.counter(h.lib.H_PT_PAGES) == tables + 1  # L1 and L2 freed, the L3 stays


def test_a_table_of_contiguous_4k_leaves_merges_into_a_superpage(bare):
    h, va = bare.h, bare.base(0)
    block = bare.frames(1, order=9)[0]
    for i in range(SUPER_PAGES):
        assert h.map_pages_to_xen(va + i * PAGE, block + i, 1, h.page_hypervisor()) == 0
        assert bare.level(va) == (2 if i == SUPER_PAGES - 1 else 1)


def test_populate_builds_tables_without_mappings(bare):
    h, va = bare.h, bare.base(0) + 3 * SUPER_PAGES * PAGE
    tables = h.counter(h.lib.H_PT_PAGES)
    assert h.populate_pt_range(va, 2 * SUPER_PAGES) == 0
    assert h.counter(h.lib.H_PT_PAGES) == tables + 4  # L3, L2, two L1
    assert bare.level(va) == 1 and bare.runs(0) == []


def test_table_allocation_failure_is_reported(bare):
    h = bare.h
    mfn = bare.frames(1)[0]
    h.fail_alloc(1)
    assert h.map_pages_to_xen(bare.base(0), mfn, 1, h.page_hypervisor()) != 0
    assert bare.read(bare.base(0), 1) is None


def test_a_stale_tlb_entry_and_a_double_mapping_are_violations(bare):
    h, va = bare.h, bare.base(0)
    mfn = bare.frames(1)[0]
    h.map_pages_to_xen(va, mfn, 1, h.page_hypervisor())
    h.map_pages_to_xen(va, mfn, 1, h.page_hypervisor())
    recs = bare.records()
    assert [r.kind for r in recs] == ["VIOLATION"] and "over the present PTE" in recs[0].msg
    h.pt_zap_noflush(va)
    h.map_pages_to_xen(va, mfn, 1, h.page_hypervisor())
    recs = bare.records()
    assert [r.kind for r in recs] == ["VIOLATION"] and "without a TLB flush" in recs[0].msg
    h.map_pages_to_xen(va, 2**64 - 1, 1, 0)  # unmap, with the flush x86 Xen does
    h.map_pages_to_xen(va, mfn, 1, h.page_hypervisor())
    assert bare.records() == []


def test_a_fault_in_guarded_code_is_a_trap(sim):
    """xfree() of a pointer into a guard page faults inside the real code."""
    va = sim.vmap(sim.frames(1))
    with pytest.raises(XenTrap, match="SIGSEGV") as trap:
        sim.h.xfree(sim.ptr(va - PAGE + 64))
    assert trap.value.record.kind == "FAULT"
    sim.records()
