"""A reference model of one vmap region, and the invariants that compare
the simulated machine with it (with the xenheap on vmap: also its arrays
and the xenheap's pages).

The model keeps the live runs of set bits ("pieces"; a partial free splits
an allocation into pieces) and predicts vm_alloc() as the ideal first fit:
the lowest start s, aligned as asked, with bit s-1 clear, bits [s, s+nr)
clear and bit s+nr clear or at the end of the region, bits beyond vm_top
counting as clear.  If vm_low ever skips a usable hole, vmap's answer
differs from the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

from gen.sim import BITMAP_PAGE_BITS, PAGE, VMAP_XENHEAP, Region, Run, Sim

# Who a piece's frames belong to: the test (vmap()), vmalloc (vfree()),
# the xenheap by the test's alloc_xenheap_pages(), the xenheap by xmalloc.
KINDS = ("vmap", "vmalloc", "xenheap", "xmalloc")


@dataclass
class Piece:
    start: int  # first bit
    mfns: list[int]  # the frame behind each page
    kind: str  # one of KINDS

    @property
    def end(self) -> int:
        return self.start + len(self.mfns)

    @property
    def vmalloc(self) -> bool:
        return self.kind == "vmalloc"

    @property
    def xenheap(self) -> bool:
        """Tracked in the xenheap arrays; its frames are xenheap pages."""
        return self.kind in ("xenheap", "xmalloc")

    @cached_property
    def extents(self) -> list[tuple[int, int, int]]:
        """(first page, pages, first frame) of each run of consecutive
        frames; a piece never changes, a release makes new ones."""
        out: list[tuple[int, int, int]] = []
        for i, mfn in enumerate(self.mfns):
            if out and out[-1][2] + out[-1][1] == mfn:
                out[-1] = (out[-1][0], out[-1][1] + 1, out[-1][2])
            else:
                out.append((self.start + i, 1, mfn))
        return out


def norm_align(align: int) -> int:
    """vm_alloc(): no alignment is 1, otherwise the lowest set bit."""
    return align & -align if align else 1


@dataclass
class Model:
    end: int  # vm_end
    reserved: int  # the bitmap's own pages, always set
    top: int  # vm_top
    pieces: dict[int, Piece] = field(default_factory=dict)
    # Pages from VMAP_VIRT_START, where the xenheap arrays' indices start,
    # to the region's first page.
    origin: int = 0

    @classmethod
    def of(cls, r: Region) -> Model:
        """A model of region r as it is set up: no allocations yet."""
        return cls(end=r.vm_end, reserved=r.bitmap_pages, top=r.vm_top,
                   origin=(r.base - r.sim.vm.base) // PAGE)

    def sorted(self) -> list[Piece]:
        return [self.pieces[s] for s in sorted(self.pieces)]

    def holes(self) -> list[tuple[int, int]]:
        """Maximal runs of clear bits [h, e), up to vm_end."""
        out, at = [], self.reserved
        for p in self.sorted():
            if p.start > at:
                out.append((at, p.start))
            at = p.end
        if at < self.end:
            out.append((at, self.end))
        return out

    def fit(self, nr: int, align: int) -> int | None:
        align = norm_align(align)
        for h, e in self.holes():
            s = (h + align) & ~(align - 1)
            if s + nr < e or (e == self.end and s + nr <= e):
                return s
        return None

    def grown_top(self, last: int) -> int:
        """vm_top after an allocation ending at bit last (exclusive)."""
        top = self.top
        while top < last and top < self.end:
            top = min(top + BITMAP_PAGE_BITS, self.end)
        return top

    def add(self, start: int, mfns: list[int], vmalloc: bool = False,
            kind: str | None = None) -> None:
        assert kind in (None, *KINDS)
        self.top = self.grown_top(start + len(mfns))
        self.pieces[start] = Piece(start, mfns, kind or ("vmalloc" if vmalloc else "vmap"))

    def piece_at(self, idx: int) -> Piece | None:
        for p in self.pieces.values():
            if p.start <= idx < p.end:
                return p
        return None

    def covering(self, idx: int, nr: int) -> Piece | None:
        """The piece holding all of [idx, idx + nr), if one does."""
        p = self.piece_at(idx)
        return p if p and nr > 0 and idx + nr <= p.end else None

    def release(self, idx: int, nr: int) -> list[int]:
        """Clear [idx, idx + nr) inside one piece; the frames it held."""
        p = self.covering(idx, nr)
        assert p is not None
        del self.pieces[p.start]
        off = idx - p.start
        if off:
            self.pieces[p.start] = Piece(p.start, p.mfns[:off], p.kind)
        if idx + nr < p.end:
            self.pieces[idx + nr] = Piece(idx + nr, p.mfns[off + nr:], p.kind)
        return p.mfns[off:off + nr]

    def bits(self) -> bytes:
        value = (1 << self.reserved) - 1
        for p in self.pieces.values():
            value |= ((1 << len(p.mfns)) - 1) << p.start
        value &= (1 << self.top) - 1
        return value.to_bytes(self.top // 8, "little")

    def runs(self, flags: int) -> list[Run]:
        """The present pages the page tables must hold beyond the bitmap
        (pieces are apart, so runs never join across them)."""
        return [Run(first, pages, mfn, flags)
                for p in self.sorted() for first, pages, mfn in p.extents]

    def tracked(self) -> list[tuple[int, int, int]]:
        """What page->virt must say: (pdx, page index, pdx) for every page
        of an xenheap piece, in pdx order (virt->page agrees)."""
        return sorted((mfn, self.origin + p.start + i, mfn)
                      for p in self.pieces.values() if p.xenheap
                      for i, mfn in enumerate(p.mfns))


def held(pieces: list[Piece]) -> int:
    """Frames held by live pieces other than the xenheap's (whose frames are
    counted as xenheap pages); raises if two pieces share one."""
    spans = sorted((mfn, pages, p.xenheap) for p in pieces for _first, pages, mfn in p.extents)
    for (a, n, _x), (b, _m, _y) in pairwise(spans):
        assert a + n <= b, f"frame {b:#x} is mapped twice"
    return sum(n for _a, n, x in spans if not x)


def boot_model(sim: Sim) -> Model:
    """The model of the xenheap's region with what xmalloc's pool holds
    there from booting."""
    m = Model.of(sim.xh)
    live: dict[int, tuple[int, int]] = {}
    for e in sim.boot_xlog:
        if e.alloc:
            live[e.va] = (e.order, e.mfn)
        else:
            del live[e.va]
    for va, (order, mfn) in live.items():
        if sim.xh.contains(va):
            m.add(sim.xh.idx(va), list(range(mfn, mfn + (1 << order))), kind="xmalloc")
    return m


def vm_low_sound(m: Model, vm_low: int) -> str | None:
    """Why vm_low is unsound, or None: vm_low must be a clear bit (or
    vm_top), and no allocation of one page may fit at or below it."""
    if vm_low > m.top:
        return f"vm_low {vm_low} above vm_top {m.top}"
    if vm_low < m.reserved or (vm_low < m.top and m.piece_at(vm_low) is not None):
        return f"bit vm_low={vm_low} is set"
    for h, e in m.holes():
        limit = e if e == m.end else e - 1  # the bit after must stay clear
        if h + 1 <= vm_low and h + 2 <= limit:
            return f"hole [{h}, {e}) can hold a page but lies below vm_low={vm_low}"
    return None


def check(sim: Sim, m: Model, ram_total: int, direct: int | None = None,
          xm: Model | None = None) -> None:
    """Every invariant of the machine against the model m of VMAP_DEFAULT
    and, in a tree where the xenheap has a region apart, the model xm of
    that region (by default, what xmalloc's pool took there while
    booting); direct is the number of xenheap pages the models know to be
    in the direct map (by default, what xmalloc's pool took there while
    booting)."""
    if direct is None:
        direct = sim.boot_direct_pages()
    apart = sim.xh_apart
    if not apart:
        assert xm is None or xm is m, "the xenheap has no region apart"
        xm = m
    elif xm is None:
        xm = boot_model(sim)
    regions = [(sim.vm, m), *([(sim.xh, xm)] if apart else [])]
    mapped_bitmap = sum(check_region(sim, r, model) for r, model in regions)
    flags = sim.h.page_hypervisor()
    pieces = [p for _r, model in regions for p in model.pieces.values()]
    kept = held(pieces)
    h = sim.h
    assert all(h.frames_inuse(r.mfn, r.pages) == r.pages
               for _r, model in regions for r in model.runs(flags)), "a held frame is free"
    check_xenheap(sim, xm, direct)
    accounted = (h.ram_free_pages() + h.counter(h.lib.H_PT_PAGES) + mapped_bitmap
                 + h.ram_xenheap_pages() + kept + sim.array_pages())
    assert accounted == ram_total, f"pages not conserved: {accounted} != {ram_total}"
    assert h.locks_held() == 0, "a lock is still held"
    assert sim.records() == [], "unexpected WARN/BUG/violation"


def check_region(sim: Sim, r: Region, m: Model) -> int:
    """Region r's bitmap, vm_top, vm_low and mappings against its model;
    returns the pages its bitmap has mapped."""
    where = f"region {r.t}"
    assert r.vm_top == m.top, f"{where}: vm_top"
    assert r.bitmap() == m.bits(), f"{where}: the bitmap differs from the model"
    for p in m.pieces.values():
        assert p.start - 1 >= m.reserved and m.piece_at(p.start - 1) is None, \
            f"{where}: no guard before the run at {p.start}"
    problem = vm_low_sound(m, r.vm_low)
    assert problem is None, f"{where}: {problem}"

    runs = r.runs()
    mapped_bitmap = -(-m.top // BITMAP_PAGE_BITS)
    head = [i for run in runs if run.offset < m.reserved
            for i in range(run.offset, run.offset + run.pages)]
    assert head == list(range(mapped_bitmap)), \
        f"{where}: the bitmap's mappings do not match vm_top"
    assert [run for run in runs if run.offset >= m.reserved] == \
        m.runs(sim.h.page_hypervisor()), \
        f"{where}: the PTEs differ from the model (frames, flags or guards)"
    return mapped_bitmap


def check_xenheap(sim: Sim, m: Model, direct: int) -> None:
    """The xenheap arrays against the model's xenheap pieces (whose pages
    the PTE check has already found mapped at their VAs, and nothing
    else): page->virt names exactly those pages at exactly those indices,
    virt->page points back at each and has no other entry, every tracked
    page is an allocated xenheap page, and the xenheap holds no page that
    is neither tracked nor known to be in the direct map."""
    h = sim.h
    want = m.tracked()
    assert sim.tracked() == want, "page->virt differs from the xenheap pieces"
    assert sim.rev_entries() == sorted((i, pdx) for pdx, i, _ in want), \
        "virt->page has entries page->virt does not point back at"
    for p in m.pieces.values():
        for _first, n, mfn in p.extents if p.xenheap else ():
            assert h.frames_inuse(mfn, n) == n, f"a tracked page of {mfn:#x}+{n} is free"
            assert h.frames_xenheap(mfn, n) == n, \
                f"a tracked page of {mfn:#x}+{n} is not a xenheap page"
    assert h.ram_xenheap_pages() == len(want) + direct, \
        "xenheap pages that are neither tracked nor known in the direct map"
    if sim.has_arrays and h.xv_active():
        check_arrays_backing(sim)
    if "xenheap-vmap" in h.traits:
        check_usage(sim, m)


def check_usage(sim: Sim, m: Model) -> None:
    """What debug key 'm' reports of the xenheap on vmap: the pages and
    the allocations they form (guard-separated runs, from virt->page) and
    the VA its region's allocations hold (vmap's bitmap) are the model's."""
    pages, allocs = sim.usage()
    xenheap = [p for p in m.pieces.values() if p.xenheap]
    assert pages == sum(len(p.mfns) for p in xenheap), "xenheap_vmap_usage(): pages"
    assert allocs == len(xenheap), "xenheap_vmap_usage(): allocations"
    if sim.xh_apart:
        assert sim.h.vm_used(VMAP_XENHEAP) == sum(len(p.mfns) for p in m.pieces.values()), \
            "vm_used(VMAP_XENHEAP) differs from the pages of the region's allocations"


def check_arrays_backing(sim: Sim) -> None:
    """What backs the arrays is what their bitmaps say is backed: page->virt
    for every valid PDX group and nothing else, virt->page page by page."""
    h = sim.h
    fwd, rev = sim.layout("H_FWD_START"), sim.layout("H_REV_START")
    group_pages = sim.layout("H_PDX_GROUP_COUNT") * 4 // PAGE
    mapped = {r.offset + i for r in sim.array_runs() for i in range(r.pages)}
    rev_off = (rev - fwd) // PAGE
    want = {g * group_pages + i for g in range(h.xv_fwd_groups()) if h.xv_fwd_backed(g)
            for i in range(group_pages)}
    want |= {rev_off + p for p in range(h.xv_rev_pages()) if h.xv_rev_backed(p)}
    assert mapped == want, "the arrays' mappings differ from what they say is backed"
