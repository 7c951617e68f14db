"""The simulated machine, for the tests, the bench and any later user: a
booted x86-64 host in the harness, its addresses as ints, the vmap bitmap,
the page tables and the xenheap arrays read back, xmalloc's calls into the
xenheap, and a snapshot of everything an operation may change."""

from __future__ import annotations

from dataclasses import dataclass

from gen.errors import GenError
from gen.harness import Harness, Record
from gen.harness.extract import UNMAP_KEEPS_SUPERPAGES

PAGE = 4096
BITMAP_PAGE_BITS = PAGE * 8  # vmap grows its bitmap one page at a time
SUPER_PAGES = 512  # pages in a 2M superpage
# enum vmap_region; VMAP_XENHEAP only in trees with the xenheap series.
VMAP_DEFAULT, VMAP_XEN, VMAP_XENHEAP = 0, 1, 2
INVALID = (1 << 64) - 1

RAM_PAGES = 1 << 17  # 512 MiB, sparse in the memfd
WINDOW_PAGES = 1 << 18  # 1 GiB: a bitmap of 8 pages, grown from 1


@dataclass(frozen=True)
class Run:
    """Present pages with consecutive frames and the same flags."""

    offset: int  # in pages from the start of the scanned range
    pages: int
    mfn: int
    flags: int


@dataclass(frozen=True)
class Snapshot:
    """What a refused call must leave as it was."""

    bitmap: bytes
    vm_low: int
    vm_top: int
    runs: tuple[Run, ...]
    xenheap_region: tuple[object, ...]  # the same of VMAP_XENHEAP, if apart
    free_pages: int
    pt_pages: int
    xenheap_pages: int
    flushes: int
    tracked: tuple[tuple[int, int, int], ...]  # page->virt entries
    array_runs: tuple[Run, ...]  # what backs the arrays


@dataclass(frozen=True)
class XlogEntry:
    """One call xmalloc made into the xenheap."""

    alloc: bool  # alloc_xenheap_pages(), else free_xenheap_pages()
    va: int  # returned (0: failed) or passed
    order: int
    mfn: int  # the frame behind va at the time, as the shim sees it
    kept: bool  # a free after which that frame is still allocated


class Region:
    """One vmap region of a machine: its bitmap and mappings read back."""

    def __init__(self, sim: Sim, t: int) -> None:
        self.sim, self.t = sim, t

    @property
    def base(self) -> int:
        return int(self.sim.h.window(self.t))

    def va(self, idx: int) -> int:
        return self.base + idx * PAGE

    def idx(self, va: int) -> int:
        return (va - self.base) // PAGE

    def contains(self, va: int) -> bool:
        return self.vm_end > 0 and self.base <= va < self.base + self.vm_end * PAGE

    @property
    def vm_low(self) -> int:
        return self.sim.h.vm_low(self.t)

    @property
    def vm_top(self) -> int:
        return self.sim.h.vm_top(self.t)

    @property
    def vm_end(self) -> int:
        return self.sim.h.vm_end(self.t)

    @property
    def bitmap_pages(self) -> int:
        """Pages reserved for the bitmap at the start of the region."""
        return -(-self.vm_end // BITMAP_PAGE_BITS)

    def bitmap(self) -> bytes:
        """Bits [0, vm_top) of the bitmap, read through its vmap mapping."""
        h, n = self.sim.h, self.vm_top // 8
        buf = self.sim.ffi.new("unsigned char[]", n)
        assert h.probe_read(h.vm_base(self.t), n, buf) == 0, "the bitmap is not mapped"
        return bytes(self.sim.ffi.buffer(buf, n))

    def bit(self, i: int) -> bool:
        return bool(self.bitmap()[i // 8] >> (i % 8) & 1)

    def runs(self, first: int = 0, pages: int | None = None) -> list[Run]:
        pages = self.vm_end - first if pages is None else pages
        size = 64
        while True:
            out = self.sim.ffi.new("unsigned long[]", 4 * size)
            n = self.sim.h.pt_runs(self.va(first), pages, out, size)
            if n <= size:
                return [Run(*out[4 * i:4 * i + 4]) for i in range(n)]
            size = n

    def state(self) -> tuple[object, ...]:
        return (self.bitmap(), self.vm_low, self.vm_top, tuple(self.runs()))


class Sim:
    """One simulated machine, set up with VMAP_DEFAULT initialised and, with
    xenheap_vmap on a tree that has the series, the xenheap on vmap, in
    its own region (`xh`)."""

    def __init__(self, h: Harness, ram_pages: int = RAM_PAGES,
                 window_pages: int = WINDOW_PAGES, boot_pages: int = 0,
                 init: bool = True, holes: int = 0, xenheap_vmap: bool = False) -> None:
        self.h = h
        self.ffi = h.ffi
        self.arch = h.spec.arch  # whose semantics the shim gives vmap.c
        # Whether unmapping a whole superpage splits it first, which takes a
        # page table: on x86 where the tree's map_pages_to_xen() counts
        # INVALID_MFN's bits against the alignment (4.17; see ARCH_FACTS).
        self.unmap_shatters = self.arch == "x86_64" and \
            UNMAP_KEEPS_SUPERPAGES not in h.spec.defines
        self.window_pages = window_pages
        self.vm = Region(self, VMAP_DEFAULT)
        # The region the xenheap is mapped in.
        self.xh = Region(self, VMAP_XENHEAP if "xenheap-region" in h.traits
                         else VMAP_DEFAULT)
        if h.init(ram_pages, boot_pages, window_pages, holes):
            raise GenError("the harness could not set up its simulated machine",
                           hint="another machine may hold its address range: one at a "
                                "time per process")
        self.on_vmap = False
        if init:
            h.vm_init(VMAP_DEFAULT)
            if xenheap_vmap and "xenheap-track" in h.traits:
                h.xv_init()
                self.on_vmap = bool(h.xv_active())
            # As in any booted Xen, xmalloc has run, so its pool exists:
            # tlsf_init() BUG()s if that first allocation fails.
            h.xfree(h.xmalloc(1, 0))
        # What xmalloc took from the xenheap while booting (the pool).
        self.boot_xlog = self.xlog() if init else []

    def close(self) -> None:
        self.h.fini()

    def counter(self, name: str) -> int:
        """One of the shim's event counters (api.h's H_* counter names)."""
        return int(self.h.counter(getattr(self.h.lib, name)))

    # Addresses.

    def base(self, t: int = VMAP_DEFAULT) -> int:
        return Region(self, t).base

    def va(self, idx: int, t: int = VMAP_DEFAULT) -> int:
        return Region(self, t).va(idx)

    def idx(self, va: int, t: int = VMAP_DEFAULT) -> int:
        return Region(self, t).idx(va)

    def ptr(self, va: int):
        return self.ffi.cast("void *", va)

    def addr(self, ptr) -> int:
        return int(self.ffi.cast("uintptr_t", ptr))

    # VMAP_DEFAULT.

    @property
    def vm_low(self) -> int:
        return self.vm.vm_low

    @property
    def vm_top(self) -> int:
        return self.vm.vm_top

    @property
    def vm_end(self) -> int:
        return self.vm.vm_end

    @property
    def bitmap_pages(self) -> int:
        return self.vm.bitmap_pages

    def bitmap(self) -> bytes:
        return self.vm.bitmap()

    def bit(self, i: int) -> bool:
        return self.vm.bit(i)

    # Page tables.

    def runs(self, first: int = 0, pages: int | None = None,
             t: int = VMAP_DEFAULT) -> list[Run]:
        return Region(self, t).runs(first, pages)

    def level(self, va: int) -> int:
        level = self.ffi.new("unsigned int *")
        self.h.pte(va, level)
        return level[0]

    # Memory.

    def frames(self, n: int, order: int = 0) -> list[int]:
        """n blocks of 2^order frames (their first frames), or [] if RAM ran
        out (and then nothing is kept)."""
        got = []
        for _ in range(n):
            mfn = self.h.alloc_domheap_pages(order)
            if mfn == INVALID:
                for m in got:
                    self.h.free_domheap_pages(m, order)
                return []
            got.append(mfn)
        return got

    def free_frames(self, mfns: list[int]) -> None:
        for m in mfns:
            self.h.free_domheap_pages(m, 0)

    def mfn_array(self, mfns: list[int]):
        return self.ffi.new("unsigned long[]", mfns or [0])

    def vmap(self, mfns: list[int], align: int = 1, granularity: int = 1) -> int:
        va = self.h.vmap_with(self.mfn_array(mfns), granularity, len(mfns), align,
                                        self.h.page_hypervisor(), VMAP_DEFAULT)
        return self.addr(va)

    def write(self, va: int, n: int, byte: int) -> bool:
        return self.h.probe_write(self.ptr(va), n, byte) == 0

    def read(self, va: int, n: int) -> bytes | None:
        buf = self.ffi.new("unsigned char[]", n)
        if self.h.probe_read(self.ptr(va), n, buf):
            return None
        return bytes(self.ffi.buffer(buf, n))

    def frame(self, mfn: int, n: int = PAGE) -> bytes:
        """A frame's contents, read through the direct map."""
        return bytes(self.ffi.buffer(self.h.frame_ptr(mfn), n))

    # State.

    def snapshot(self) -> Snapshot:
        h = self.h
        return Snapshot(*self.vm.state(), self.xh.state() if self.xh_apart else (),
                        h.ram_free_pages(), h.counter(h.lib.H_PT_PAGES),
                        h.ram_xenheap_pages(), h.counter(h.lib.H_TLB_FLUSHES),
                        tuple(self.tracked()), tuple(self.array_runs()))

    # The xenheap on vmap (the series' arrays).

    @property
    def has_arrays(self) -> bool:
        return "xenheap-track" in self.h.traits

    def layout(self, name: str) -> int:
        return int(self.h.layout(getattr(self.h.lib, name)))

    def tracked(self) -> list[tuple[int, int, int]]:
        """page->virt as it is in memory: (pdx, vmap page index, virt->page
        entry at that index or INVALID), in pdx order."""
        if not self.has_arrays:
            return []
        return [tuple(e) for e in self._scan(self.h.xv_scan_fwd, 3)]

    def rev_entries(self) -> list[tuple[int, int]]:
        """virt->page as it is in memory: (index, pdx) of its set entries."""
        if not self.has_arrays:
            return []
        return [tuple(e) for e in self._scan(self.h.xv_scan_rev, 2)]

    def _scan(self, fn, width: int) -> list[list[int]]:
        size = 256
        while True:
            out = self.ffi.new("unsigned long[]", width * size)
            n = fn(out, size)
            if n <= size:
                return [list(out[width * i:width * i + width]) for i in range(n)]
            size = n

    def array_runs(self) -> list[Run]:
        """The pages mapped in the arrays' ranges (offsets from their start)."""
        if not self.has_arrays:
            return []
        start, end = self.layout("H_FWD_START"), self.layout("H_REV_END")
        pages = -(-(end - start) // PAGE)
        size = 64
        while True:
            out = self.ffi.new("unsigned long[]", 4 * size)
            n = self.h.pt_runs(start, pages, out, size)
            if n <= size:
                return [Run(*out[4 * i:4 * i + 4]) for i in range(n)]
            size = n

    def array_pages(self) -> int:
        return sum(r.pages for r in self.array_runs())

    def usage(self) -> tuple[int, int]:
        """xenheap_vmap_usage(): the xenheap's pages on vmap, and the
        allocations they form."""
        pages, allocs = self.ffi.new("unsigned long *"), self.ffi.new("unsigned long *")
        self.h.xenheap_vmap_usage(pages, allocs)
        return pages[0], allocs[0]

    @property
    def xh_apart(self) -> bool:
        """Whether the xenheap has a region of its own, set up."""
        return self.xh.t != VMAP_DEFAULT and self.xh.vm_end > 0

    def on_window(self, va: int) -> bool:
        """Whether va is in a vmap region: VMAP_DEFAULT or the xenheap's."""
        return self.vm.contains(va) or self.xh.contains(va)

    def xlog(self) -> list[XlogEntry]:
        """xmalloc's calls into the xenheap since the last look."""
        size = 512
        out = self.ffi.new("unsigned long[]", 5 * size)
        n = self.h.xlog_take(out, size)
        if n > size:
            raise GenError(f"xmalloc made {n} xenheap calls in one operation: the log "
                           f"overflowed")
        return [XlogEntry(out[5 * i] == self.h.lib.H_XLOG_ALLOC, *out[5 * i + 1:5 * i + 4],
                          bool(out[5 * i + 4])) for i in range(n)]

    def boot_direct_pages(self) -> int:
        """Pages xmalloc's pool still holds in the direct map from booting."""
        live: dict[int, int] = {}
        for e in self.boot_xlog:
            if e.alloc:
                live[e.va] = e.order
            else:
                del live[e.va]
        return sum(1 << o for va, o in live.items() if not self.on_window(va))

    def xalloc(self, order: int, memflags: int = 0) -> int:
        return self.addr(self.h.alloc_xenheap_pages(order, memflags))

    def xfree_pages(self, va: int, order: int) -> None:
        self.h.free_xenheap_pages(self.ptr(va), order)

    def records(self) -> list[Record]:
        return self.h.records()
