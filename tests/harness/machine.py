"""The stateful test: random sequences of vmap/vunmap/vmalloc/vfree/
vunmap_partial, alloc/free_xenheap_pages (with and without MEMF_directmap,
whole, by sub-blocks, by direct-map alias, and misused) and
xmalloc/xzalloc/xrealloc/xfree (pool and whole-page sizes, and misused),
with failure injection and real memory accesses, run against the model,
with every invariant of model.check() after every step, and the contents
of every live xmalloc() block checked too.

On a tree with the xenheap series the machine boots with the xenheap on
vmap, so that every xenheap allocation (the test's, xmalloc's pool pages
and whole-page blocks, the arrays vmalloc() xmallocs) lands in the vmap
region the model predicts.  xmalloc's own calls into the xenheap are
read from the shim's log (c/shim/xlog.c) and replayed into the model: the
placement of each is checked against the model's first fit, and the
machine's bitmap, PTEs, arrays and page counts against the replayed model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gen.harness import Harness, XenTrap
from gen.sim import (
    BITMAP_PAGE_BITS,
    PAGE,
    RAM_PAGES,
    SUPER_PAGES,
    VMAP_DEFAULT,
    Region,
    Sim,
    XlogEntry,
)

from .model import Model, check

# Machines made and invariant checks run (one after each step and one on
# the fresh machine), so that the long run can prove its length.
COUNT = {"machines": 0, "checks": 0}

# xmalloc() sizes: the pool, whole pages, and 2^k pages plus a little
# (which trimming cuts down, and no-trim keeps whole); rarely a block
# beyond 2M, mapped with superpages.
POOL_SIZES = st.integers(1, 3000)
PAGE_SIZES = st.one_of(
    st.integers(1, 9).map(lambda k: k * PAGE),
    st.integers(PAGE - 100, 6 * PAGE),
    st.sampled_from([(1 << k) * PAGE + 1 for k in range(5)]
                    + [((1 << k) + 1) * PAGE for k in range(4)]),
)
BIG_SIZES = st.sampled_from([(SUPER_PAGES + 1) * PAGE, 2 * SUPER_PAGES * PAGE - 100])
SIZES = st.one_of(POOL_SIZES, POOL_SIZES, POOL_SIZES, PAGE_SIZES, PAGE_SIZES, PAGE_SIZES,
                  PAGE_SIZES, BIG_SIZES)
ALIGNS = st.sampled_from([0, 8, 64, PAGE, 4 * PAGE])
# alloc_xenheap_pages() orders: small ones mostly, sometimes 2M and 4M.
ORDERS = st.one_of(st.integers(0, 4), st.integers(0, 4), st.sampled_from([5, 9, 10]))


def steps_run() -> int:
    return COUNT["checks"] - COUNT["machines"]


def pfn_up(size: int) -> int:
    return -(-size // PAGE)


def order_of(pages: int) -> int:
    """get_order_from_pages()."""
    return (pages - 1).bit_length() if pages > 1 else 0


def pattern(seed: int, n: int) -> bytes:
    """n bytes of a period of 251 (prime: no page looks like the next)."""
    start = seed % 251
    reps = -(-(n + start) // 251)
    return (bytes(range(251)) * reps)[start:start + n]


@dataclass
class XAlloc:
    """An alloc_xenheap_pages() the test made."""

    va: int
    order: int
    mfn: int
    vmap: bool  # on vmap, else in the direct map
    live: set[int] = field(default_factory=set)  # offsets not yet freed


@dataclass
class Block:
    """A live xmalloc() block and what the test wrote into it."""

    ptr: int
    size: int
    align: int
    data: bytes


def split_log(log: list[XlogEntry]) -> tuple[list[XlogEntry], list[XlogEntry]]:
    """vmalloc() xmallocs its frame array, maps, then xfrees the array:
    the log's allocations all come before its frees."""
    allocs = [e for e in log if e.alloc]
    assert log == allocs + [e for e in log if not e.alloc], log
    return allocs, log[len(allocs):]


def machine_for(h: Harness) -> type[RuleBasedStateMachine]:
    """A state machine class bound to one built harness."""
    # Features of the tree: the arrays (both series, with xfree-check) and
    # vunmap_partial() (split-vmap), which lets a sub-block of a vmapped
    # xenheap allocation be freed.
    arrays = "xenheap-track" in h.traits
    splits = "vmap-partial" in h.traits
    directmap_flag = int(h.memf_directmap())

    class VmapMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            COUNT["machines"] += 1
            self.sim = Sim(h, xenheap_vmap=True)
            s = self.sim
            self.total = RAM_PAGES - 1  # frame 0 is never RAM
            self.model = Model.of(s.vm)
            self.apart = s.xh_apart
            self.xmodel = Model.of(s.xh) if self.apart else self.model
            self.direct: set[int] = set()  # xenheap frames in the direct map
            self.xallocs: dict[int, XAlloc] = {}
            self.blocks: dict[int, Block] = {}
            self.dead: list[int] = []  # VAs of freed vmapped xenheap pages
            self.replay(s.boot_xlog)

        def teardown(self) -> None:
            self.sim.close()

        # Helpers.

        def place(self, start: int | None, va: int, mfns: list[int], vmalloc: bool) -> None:
            """Check vmap's answer against the model and record it."""
            if start is None:
                assert va == 0, "vmap succeeded where the model finds no room"
                return
            assert va == self.sim.va(start), \
                f"vmap chose page {self.sim.idx(va)}, the first fit is {start}"
            self.model.add(start, mfns, vmalloc)

        def models(self) -> list[Model]:
            return [self.model, self.xmodel] if self.apart else [self.model]

        def pick(self, data: st.DataObject, kinds=("vmap", "vmalloc")):
            pieces = sorted(((self.region(p.kind).va(p.start), p) for m in self.models()
                             for p in m.pieces.values() if p.kind in kinds),
                            key=lambda vp: vp[0])
            return data.draw(st.sampled_from(pieces))[1] if pieces else None

        def has(self, *kinds: str) -> bool:
            return any(p.kind in kinds for m in self.models() for p in m.pieces.values())

        def region(self, kind: str) -> Region:
            """The region a piece of this kind lives in."""
            return self.sim.xh if kind in ("xenheap", "xmalloc") else self.sim.vm

        def model_for(self, kind: str) -> Model:
            return self.xmodel if kind in ("xenheap", "xmalloc") else self.model

        def expect(self, kind: str, where: str) -> None:
            recs = self.sim.records()
            assert [r.kind for r in recs] == [kind], recs
            assert recs[0].file.endswith(where), recs

        def expect_warn(self, where: str = "xen/common/vmap.c") -> None:
            self.expect("WARN", where)

        def frame_of(self, va: int) -> int:
            """The frame behind a xenheap VA (vmap or direct map)."""
            if self.sim.on_window(va):
                return int(h.vmap_to_mfn(self.sim.ptr(va)))
            return (va - self.sim.layout("H_DIRECTMAP_VIRT_START")) // PAGE

        def replay(self, log: list[XlogEntry]) -> int:
            """Apply xmalloc's xenheap calls to the model: an allocation on
            vmap must be at the first naturally aligned fit.  A free whose
            pages are still tracked afterwards could not be unmapped (an
            injected failure): the pages stay allocated, leaked, and vmap.c
            WARNed; returns how many such frees there were."""
            leaks = 0
            for e in log:
                n = 1 << e.order
                if e.alloc and not e.va:
                    continue
                if self.sim.on_window(e.va):
                    assert arrays and self.sim.on_vmap, f"{e} on vmap"
                    assert self.sim.xh.contains(e.va), f"{e} outside the xenheap's region"
                    idx = self.sim.xh.idx(e.va)
                    if e.alloc:
                        assert idx == self.xmodel.fit(n, n), \
                            f"xmalloc's {e} is not at the first naturally aligned fit"
                        assert e.mfn % n == 0, f"{e}: frame not aligned"
                        self.xmodel.add(idx, list(range(e.mfn, e.mfn + n)), kind="xmalloc")
                    else:
                        p = self.xmodel.covering(idx, n)
                        assert p is not None and p.kind == "xmalloc", f"{e} frees {p}"
                        assert e.mfn == p.mfns[idx - p.start], e
                        if e.kept:
                            leaks += 1
                            continue
                        self.xmodel.release(idx, n)
                    continue
                mfn = e.mfn
                assert not e.kept, f"{e}: a direct-map free kept its pages"
                frames = set(range(mfn, mfn + n))
                if e.alloc:
                    assert mfn % n == 0 and not frames & self.direct, e
                    self.direct |= frames
                else:
                    assert frames <= self.direct, f"{e} frees what xmalloc did not get"
                    self.direct -= frames
            return leaks

        def no_xlog(self) -> None:
            log = self.sim.xlog()
            assert log == [], f"unexpected xenheap calls from xmalloc: {log}"

        def refused(self, call, where: str, kind: str = "WARN") -> None:
            """call must record one WARN (or trap) in where and change
            nothing."""
            before = self.sim.snapshot()
            if kind == "WARN":
                call()
            else:
                try:
                    call()
                    raise AssertionError(f"no {kind} from {where}")
                except XenTrap:
                    pass
            self.expect(kind, where)
            assert self.sim.snapshot() == before, "a refused call changed the state"
            self.no_xlog()

        # Rules: vmap.c.

        @rule(n=st.integers(1, 12), align=st.sampled_from([0, 1, 2, 3, 4, 8, 16, 64]))
        def vmap(self, n: int, align: int) -> None:
            mfns = self.sim.frames(n)
            if not mfns:
                return
            start = self.model.fit(n, align)
            va = self.sim.vmap(mfns, align)
            self.place(start, va, mfns, vmalloc=False)
            if not va:
                self.sim.free_frames(mfns)

        @rule(chunks=st.sampled_from([1, 2, 65]))
        def vmap_superpages(self, chunks: int) -> None:
            """2M-aligned 2M chunks, mapped as superpages; 65 chunks outgrow
            the bitmap's first page."""
            blocks = self.sim.frames(chunks, order=9)
            if not blocks:
                return
            start = self.model.fit(chunks * SUPER_PAGES, SUPER_PAGES)
            va = self.sim.vmap(blocks, SUPER_PAGES, SUPER_PAGES)
            self.place(start, va, [b + i for b in blocks for i in range(SUPER_PAGES)],
                       vmalloc=False)
            if not va:
                for b in blocks:
                    self.sim.h.free_domheap_pages(b, 9)

        @rule(pages=st.integers(1, 12), short=st.integers(0, PAGE - 1))
        def vmalloc(self, pages: int, short: int) -> None:
            va = self.sim.addr(self.sim.h.vmalloc(pages * PAGE - short))
            allocs, frees = split_log(self.sim.xlog())
            self.replay(allocs)  # its frame array, which may grow xmalloc's pool
            start = self.model.fit(pages, 1)
            mfns = [self.sim.h.vmap_to_mfn(self.sim.ptr(va + i * PAGE)) for i in range(pages)]
            self.place(start, va, mfns if va else [], vmalloc=True)
            self.replay(frees)

        @precondition(lambda self: self.has("vmap", "vmalloc"))
        @rule(data=st.data(), offset=st.integers(0, PAGE - 1))
        def vunmap(self, data: st.DataObject, offset: int) -> None:
            p = self.pick(data)
            va = self.sim.va(p.start)
            if p.vmalloc:
                self.sim.h.vfree(self.sim.ptr(va))
                self.model.release(p.start, len(p.mfns))
                self.no_xlog()
                return
            self.sim.h.vunmap(self.sim.ptr(va + offset))  # Xen masks the offset
            self.forget(p.start, len(p.mfns))

        def forget(self, idx: int, nr: int) -> None:
            """Release [idx, idx + nr) from the model and free its frames, as
            the owner of an unmapped range does."""
            self.sim.free_frames(self.model.release(idx, nr))

        @precondition(lambda self: splits and self.has("vmap", "vmalloc"))
        @rule(data=st.data())
        def partial(self, data: st.DataObject) -> None:
            p = self.pick(data)
            off = data.draw(st.integers(0, len(p.mfns) - 1))
            nr = data.draw(st.integers(1, len(p.mfns) - off))
            if data.draw(st.booleans()):
                # Often a bad range instead: before, past or across the run.
                off += data.draw(st.sampled_from([-1, 0, 1]))
                nr += data.draw(st.sampled_from([-1, 0, 1, 2]))
            idx = p.start + off
            nr = max(nr, 0)
            valid = self.model.covering(idx, nr) is not None
            before = self.sim.snapshot()
            rc = self.sim.h.vunmap_partial(self.sim.ptr(self.sim.va(idx)), nr)
            if not valid:
                assert rc == -22, rc  # -EINVAL
                self.expect_warn()
                assert self.sim.snapshot() == before, "a refused call changed the state"
                return
            assert rc == 0
            self.forget(idx, nr)

        @precondition(lambda self: any(m.pieces for m in self.models()))
        @rule(data=st.data())
        def vunmap_not_a_start(self, data: st.DataObject) -> None:
            """vunmap() of a guard or an interior page is refused."""
            p = self.pick(data, kinds=("vmap", "vmalloc", "xenheap", "xmalloc"))
            idx = data.draw(st.sampled_from([p.start - 1, *range(p.start + 1, p.end)]))
            if self.model_for(p.kind).pieces.get(idx) is not None:
                return
            before = self.sim.snapshot()
            self.sim.h.vunmap(self.sim.ptr(self.region(p.kind).va(idx)))
            self.expect_warn()
            assert self.sim.snapshot() == before

        @precondition(lambda self: self.has("vmap", "vmalloc", "xenheap"))
        @rule(data=st.data(), byte=st.integers(1, 255))
        def touch(self, data: st.DataObject, byte: int) -> None:
            """A write through the VA lands in the frame (read back through
            the direct map); the guard faults."""
            p = self.pick(data, kinds=("vmap", "vmalloc", "xenheap"))
            r = self.region(p.kind)
            i = data.draw(st.integers(0, len(p.mfns) - 1))
            va = r.va(p.start + i)
            assert self.sim.write(va + 8, 16, byte)
            assert self.sim.frame(p.mfns[i], 24)[8:] == bytes([byte]) * 16
            assert self.sim.read(r.va(p.start - 1), 1) is None, "guard page is mapped"

        @rule(pages=st.integers(1, 6), nth=st.integers(1, 8))
        def vmalloc_failing(self, pages: int, nth: int) -> None:
            """The nth domheap allocation in vmalloc() fails: NULL, and
            nothing changed, or else it did not reach that far."""
            self.fail(pages, lambda: self.sim.h.fail_alloc(nth))

        @rule(pages=st.integers(1, 6), nth=st.integers(1, 6))
        def vmalloc_map_failing(self, pages: int, nth: int) -> None:
            """The nth map_pages_to_xen() in vmalloc() fails part way."""
            self.fail(pages, lambda: self.sim.h.fail_map(nth))

        def fail(self, pages: int, arm) -> None:
            before = self.sim.snapshot()
            arm()
            va = self.sim.addr(self.sim.h.vmalloc(pages * PAGE))
            self.sim.h.fail_alloc(0)
            self.sim.h.fail_map(0)
            allocs, frees = split_log(self.sim.xlog())
            assert self.replay(allocs) == 0
            start = self.model.fit(pages, 1)
            if va:
                mfns = [self.sim.h.vmap_to_mfn(self.sim.ptr(va + i * PAGE))
                        for i in range(pages)]
                self.place(start, va, mfns, vmalloc=True)
            else:
                # The bitmap may have grown before the failure; that is kept.
                # Everything else is checked against the model afterwards.
                after = self.sim.vm_top
                assert before.vm_top <= after <= self.model.grown_top(
                    (start or self.model.end) + pages)
                self.model.top = max(self.model.top, after)
            # The failure may hit the unmap of a pool page xmalloc gives back
            # (vunmap_partial()): that page is leaked, with a WARN.
            leaks = self.replay(frees)
            recs = self.sim.records()
            assert [(r.kind, r.file) for r in recs] == [("WARN", "xen/common/vmap.c")] * leaks, \
                recs

        # Rules: the xenheap (page_alloc.c, and the series' arrays).

        @precondition(lambda self: len(self.xallocs) < 16)
        @rule(order=ORDERS, directmap=st.booleans())
        def alloc_xenheap(self, order: int, directmap: bool) -> None:
            n = 1 << order
            flags = directmap_flag if directmap else 0
            on_vmap = self.sim.on_vmap and not flags
            start = self.xmodel.fit(n, n) if on_vmap else None
            va = self.sim.xalloc(order, flags)
            self.no_xlog()
            assert va, "alloc_xenheap_pages() failed"
            if on_vmap:
                assert va == self.sim.xh.va(start), \
                    f"the xenheap got page {self.sim.xh.idx(va)}, the first fit is {start}"
                mfn = self.frame_of(va)
                self.xmodel.add(start, list(range(mfn, mfn + n)), kind="xenheap")
            else:
                assert not self.sim.on_window(va), "MEMF_directmap memory is on vmap"
                mfn = self.frame_of(va)
                assert not set(range(mfn, mfn + n)) & self.direct
                self.direct |= set(range(mfn, mfn + n))
            assert mfn % n == 0 and va % (n * PAGE) == 0, "not naturally aligned"
            assert self.sim.h.frames_xenheap(mfn, n) == n
            self.xallocs[va] = XAlloc(va, order, mfn, on_vmap, set(range(n)))

        def pick_xalloc(self, data: st.DataObject, vmap: bool | None = None) -> XAlloc | None:
            keys = sorted(k for k, a in self.xallocs.items() if vmap is None or a.vmap == vmap)
            return self.xallocs[data.draw(st.sampled_from(keys))] if keys else None

        def sub_block(self, data: st.DataObject, a: XAlloc) -> tuple[int, int]:
            """(order, first page) of a naturally aligned sub-block of a, or
            all of it."""
            if data.draw(st.booleans()):
                return a.order, 0
            i = data.draw(st.integers(0, a.order))
            return i, data.draw(st.integers(0, (1 << (a.order - i)) - 1)) << i

        def released(self, a: XAlloc, first: int, i: int) -> None:
            """The pages [first, first + 2^i) of a are freed: model and heap."""
            n = 1 << i
            if a.vmap:
                self.xmodel.release(self.sim.xh.idx(a.va) + first, n)
                self.dead += [a.va + (first + k) * PAGE for k in range(n)]
            else:
                self.direct -= set(range(a.mfn + first, a.mfn + first + n))
            a.live -= set(range(first, first + n))
            if not a.live:
                del self.xallocs[a.va]
            assert self.sim.h.frames_inuse(a.mfn + first, n) == 0, "the pages are not free"
            assert self.sim.h.frames_xenheap(a.mfn + first, n) == 0

        @precondition(lambda self: self.xallocs)
        @rule(data=st.data(), alias=st.booleans())
        def free_xenheap(self, data: st.DataObject, alias: bool) -> None:
            """Free all of an allocation or a naturally aligned sub-block, by
            its VA or by the direct-map alias of its first page: on vmap,
            no-trim takes only a whole allocation, split-vmap any live
            sub-block; anything else WARNs and changes nothing."""
            a = self.pick_xalloc(data)
            i, first = self.sub_block(data, a)
            pages = set(range(first, first + (1 << i)))
            live = pages <= a.live
            if not a.vmap and not live:
                return  # a double free in the direct map is the heap's to catch
            if first not in a.live:
                if self.xmodel.piece_at(self.sim.xh.idx(a.va) + first):
                    return  # a VA since reused is someone else's
                alias = False  # a freed page's alias is no longer a xenheap page
            ok = live and (not a.vmap or splits or i == a.order)
            va = int(self.sim.addr(self.sim.h.frame_ptr(a.mfn + first))) if alias \
                else a.va + first * PAGE
            if not ok:
                self.refused(lambda: self.sim.xfree_pages(va, i), "xen/common/page_alloc.c")
                return
            self.sim.xfree_pages(va, i)
            self.no_xlog()
            self.released(a, first, i)

        @precondition(lambda self: arrays and self.sim.on_vmap and
                      any(m.pieces for m in self.models()))
        @rule(data=st.data(), case=st.sampled_from(["guard", "too-big", "unaligned", "dead",
                                                   "vmap", "hole"]))
        def free_xenheap_misused(self, data: st.DataObject, case: str) -> None:
            """Frees of what is not an aligned part of a live vmapped
            xenheap allocation WARN and change nothing."""
            va, order = None, 0
            if case == "guard":
                p = self.pick(data, kinds=("xenheap", "xmalloc", "vmap", "vmalloc"))
                if self.model_for(p.kind).piece_at(p.end) is not None:
                    return
                va = self.region(p.kind).va(p.end)
            elif case in ("too-big", "unaligned"):
                a = self.pick_xalloc(data, vmap=True)
                if a is None or (case == "unaligned" and a.order == 0):
                    return
                first = 0 if case == "too-big" else 1
                order = a.order + 1 if case == "too-big" else 1
                if first not in a.live:
                    return
                va = a.va + first * PAGE
            elif case == "dead":
                dead = [v for v in self.dead if self.xmodel.piece_at(self.sim.xh.idx(v)) is None]
                if not dead:
                    return
                va = data.draw(st.sampled_from(dead))
            elif case == "vmap":
                p = self.pick(data)
                if p is None:
                    return
                va = self.sim.va(p.start)
            else:
                hole = [h_ for h_, e in self.xmodel.holes() if e - h_ >= 1]
                va = self.sim.xh.va(data.draw(st.sampled_from(hole)) if hole else 1)
            self.refused(lambda: self.sim.xfree_pages(va, order), "xen/common/page_alloc.c")

        @precondition(lambda self: splits and self.sim.on_vmap and any(
            a.vmap and a.order >= 9 for a in self.xallocs.values()))
        @rule(data=st.data())
        def free_xenheap_cannot_unmap(self, data: st.DataObject) -> None:
            """A free that would split a superpage while no page-table page
            can be had: vunmap_partial() fails, WARNs, and the pages stay
            allocated, tracked and mapped (leaked, never freed while
            mapped)."""
            a = data.draw(st.sampled_from(sorted(
                (a for a in self.xallocs.values() if a.vmap and a.order >= 9),
                key=lambda a: a.va)))
            i, first = self.sub_block(data, a)
            # A whole superpage goes without a split, so without memory.
            if i >= 9 or not set(range(first, first + (1 << i))) <= a.live or \
                    self.sim.level(a.va + first * PAGE) != 2:
                return
            self.sim.h.fail_alloc(1)
            self.refused(lambda: self.sim.xfree_pages(a.va + first * PAGE, i),
                         "xen/common/vmap.c")
            self.sim.h.fail_alloc(0)

        # Rules: xmalloc.

        def check_whole(self, p: int, size: int, align: int) -> None:
            """A whole-page block: on vmap under no-trim, all 2^order pages
            are kept; otherwise PFN_UP(size), the tail given back."""
            order = order_of(pfn_up(max(size, align)))
            keeps = arrays and not splits and self.sim.on_window(p)
            pages = (1 << order) if keeps else pfn_up(size)
            mfn = self.frame_of(p)
            assert self.sim.h.frame_order(mfn) == pages, \
                f"block of {size} bytes: PFN_ORDER {self.sim.h.frame_order(mfn)} != {pages}"
            if self.sim.on_window(p):
                piece = self.xmodel.pieces.get(self.sim.xh.idx(p))
                assert piece is not None and piece.kind == "xmalloc" and \
                    len(piece.mfns) == pages, f"block of {size} bytes holds {piece}"
            else:
                assert set(range(mfn, mfn + pages)) <= self.direct

        @precondition(lambda self: len(self.blocks) < 12)
        @rule(size=SIZES, align=ALIGNS, zero=st.booleans(), seed=st.integers(0, 255))
        def xmalloc(self, size: int, align: int, zero: bool, seed: int) -> None:
            fn = self.sim.h.xzalloc if zero else self.sim.h.xmalloc
            p = self.sim.addr(fn(size, align))
            self.replay(self.sim.xlog())
            assert p, "xmalloc() failed"
            assert p % max(align, 16) == 0
            if zero:
                assert self.sim.read(p, size) == bytes(size), "xzalloc() memory is not zero"
            if p % PAGE == 0:
                self.check_whole(p, size, align)
            self.store(p, size, align, b"", seed)

        def store(self, p: int, size: int, align: int, kept: bytes, seed: int) -> None:
            tail = pattern(seed, size - len(kept))
            self.sim.ffi.memmove(self.sim.ptr(p + len(kept)), tail, len(tail))
            self.blocks[p] = Block(p, size, align, kept + tail)

        @precondition(lambda self: self.blocks)
        @rule(data=st.data(), size=SIZES, seed=st.integers(0, 255))
        def xrealloc(self, data: st.DataObject, size: int, seed: int) -> None:
            """_xrealloc() keeps the contents; a whole-page block that has
            room (under no-trim: its whole 2^order block) stays in place."""
            b = self.blocks.pop(data.draw(st.sampled_from(sorted(self.blocks))))
            room = self.sim.h.frame_order(self.frame_of(b.ptr)) * PAGE \
                if b.ptr % PAGE == 0 else 0
            q = self.sim.addr(self.sim.h.xrealloc(self.sim.ptr(b.ptr), size, b.align))
            self.replay(self.sim.xlog())
            assert q and q % max(b.align, 16) == 0, "xrealloc() failed"
            keep = min(size, b.size)
            assert self.sim.read(q, keep) == b.data[:keep], "xrealloc() lost the contents"
            if size <= room:
                assert q == b.ptr, "a block with room moved"
            elif q % PAGE == 0:
                self.check_whole(q, size, b.align)
            if q != b.ptr and b.ptr % PAGE == 0:
                self.freed_block(b.ptr)
            self.store(q, size, b.align, b.data[:keep], seed)

        def freed_block(self, p: int) -> None:
            if self.sim.on_window(p):
                self.dead.append(p)

        @precondition(lambda self: self.blocks)
        @rule(data=st.data())
        def xfree(self, data: st.DataObject) -> None:
            """A whole-page block is freed in the chunks xmalloc gave it:
            one call for all of it under no-trim on vmap, its power-of-two
            pieces otherwise."""
            b = self.blocks.pop(data.draw(st.sampled_from(sorted(self.blocks))))
            pages = self.sim.h.frame_order(self.frame_of(b.ptr)) if b.ptr % PAGE == 0 else 0
            self.sim.h.xfree(self.sim.ptr(b.ptr))
            log = self.sim.xlog()
            if pages:
                frees = [e for e in log if not e.alloc and b.ptr <= e.va < b.ptr + pages * PAGE]
                assert sum(1 << e.order for e in frees) == pages, f"{pages} pages freed as {frees}"
                assert len(frees) == bin(pages).count("1"), frees
                self.freed_block(b.ptr)
            self.replay(log)

        @precondition(lambda self: arrays and self.sim.on_vmap and (self.xallocs or self.blocks))
        @rule(data=st.data(), case=st.sampled_from(["xenheap", "interior", "double"]))
        def xfree_misused(self, data: st.DataObject, case: str) -> None:
            """xfree() of alloc_xenheap_pages() memory, or of a page inside a
            whole-page block, WARNs and changes nothing (xfree-check); of a
            freed vmapped block, it is the conversion's ASSERT that stops
            it: the address is no longer a xenheap page."""
            if case == "xenheap":
                a = self.pick_xalloc(data)
                if a is None:
                    return
                p = a.va + data.draw(st.sampled_from(sorted(a.live))) * PAGE
                self.refused(lambda: self.sim.h.xfree(self.sim.ptr(p)),
                             "xen/common/xmalloc_tlsf.c")
            elif case == "interior":
                big = [b for b in self.blocks.values() if b.ptr % PAGE == 0 and b.size > PAGE]
                if not big:
                    return
                b = data.draw(st.sampled_from(sorted(big, key=lambda b: b.ptr)))
                p = b.ptr + PAGE * data.draw(st.integers(1, pfn_up(b.size) - 1))
                self.refused(lambda: self.sim.h.xfree(self.sim.ptr(p)),
                             "xen/common/xmalloc_tlsf.c")
            else:
                dead = [v for v in self.dead if self.xmodel.piece_at(self.sim.xh.idx(v)) is None]
                if not dead:
                    return
                p = data.draw(st.sampled_from(dead))
                self.refused(lambda: self.sim.h.xfree(self.sim.ptr(p)),
                             "xen/arch/x86/xenheap-vmap.c", kind="ASSERT")

        @invariant()
        def consistent(self) -> None:
            COUNT["checks"] += 1
            check_machine(self.sim, self.model, self.total, len(self.direct),
                          self.xmodel if self.apart else None)
            for f in sorted(self.direct):
                assert self.sim.h.frames_xenheap(f, 1) == 1, f"direct-map frame {f:#x}"
            for b in self.blocks.values():
                assert self.sim.read(b.ptr, b.size) == b.data, \
                    f"the contents of the xmalloc() block at {b.ptr:#x} changed"

    return VmapMachine


def check_machine(sim: Sim, model: Model, total: int, direct: int = 0,
                  xm: Model | None = None) -> None:
    check(sim, model, total, direct, xm)
    assert sim.h.vm_end(VMAP_DEFAULT) == model.end
    assert model.top % BITMAP_PAGE_BITS == 0 or model.top == model.end
