"""One test per patch of the fixes series (gen/variants.py FIXES).  Each
runs on every tree that has its fix, where it must pass, and on the
unfixed tree, where it must fail the way its bug shows: so each test is
known to see the bug it is for.

Every case runs in a forked child (tests/harness/child.py), as an unfixed
tree may hang or wreck the machine, on the build where its bug shows:
Arm64's semantics for the livepatch area, a release build where the
ASSERT that hides a bug in debug is compiled out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from gen import harness
from gen.sim import PAGE, VMAP_XEN, Sim
from gen.variants import FIXES, SERIES

from .child import outcome


def xrealloc_copy(s: Sim) -> None:
    """The last block of a pool page, aligned to 64 and so padded, moved
    out of the pool: the copy must stop at the page's end.  A marker in
    the next frame of the direct map shows whether it read on."""
    blocks = [s.addr(s.h.xmalloc(176, 64)) for _ in range(PAGE // 176 + 2)]
    page = blocks[0] & ~(PAGE - 1)
    last = max(p for p in blocks if p & ~(PAGE - 1) == page)
    assert last + 176 <= page + PAGE < last + 176 + 64, "no padded block at the page's end"
    marker = bytes(range(0xA0, 0xB0))
    saved = s.read(page + PAGE, len(marker))
    assert saved is not None, "the pool page is not in the direct map"
    s.ffi.memmove(s.ptr(page + PAGE), marker, len(marker))
    q = s.addr(s.h.xrealloc(s.ptr(last), PAGE - 64, 64))
    moved = s.read(q, PAGE - 64)
    s.ffi.memmove(s.ptr(page + PAGE), saved, len(saved))
    assert moved is not None and marker[:8] not in moved, \
        "_xrealloc() copied bytes from past the end of the block"
    s.h.xfree(s.ptr(q))
    for p in blocks:
        if p != last:
            s.h.xfree(s.ptr(p))


def xfree_check(s: Sim) -> None:
    """A second xfree() of a whole-page allocation WARNs and changes
    nothing."""
    p = s.h.xmalloc(2 * PAGE, 0)
    s.h.xfree(p)
    before = s.snapshot()
    s.h.xfree(p)
    assert [r.kind for r in s.records()] == ["WARN"], "no WARN"
    assert s.snapshot() == before, "the second xfree() changed the state"


def vm_init_top(s: Sim) -> None:
    """Arm's 512-page livepatch area: what does not fit gets NULL, and what
    does ends within the area."""
    s.h.vm_init(VMAP_XEN)
    end = s.base(VMAP_XEN) + s.h.region_pages(VMAP_XEN) * PAGE
    assert s.h.region_pages(VMAP_XEN) == 512
    big = s.addr(s.h.vmalloc_xen(600 * PAGE))
    assert not big, f"VA past the region's end: {big + 600 * PAGE - end:#x} bytes"
    va = s.addr(s.h.vmalloc_xen(500 * PAGE))
    assert va and va + 500 * PAGE <= end, "500 pages do not fit in the area"
    s.h.vfree(s.ptr(va))


def vmalloc_zero(s: Sim) -> None:
    """vmalloc(0) gives NULL and a WARN, and reserves nothing."""
    before = s.snapshot()
    va = s.addr(s.h.vmalloc(0))
    assert not va, "a VA for nothing"
    assert [r.kind for r in s.records()] == ["WARN"], "no WARN"
    assert s.snapshot() == before


def vunmap_align(s: Sim) -> None:
    """vunmap() of an address inside the first page of an allocation tears
    the whole allocation down, as vm_free() frees it."""
    mfns = s.frames(2)
    va = s.vmap(mfns)
    s.h.vunmap(s.ptr(va + 123))
    assert s.records() == [], "the teardown was refused"
    assert s.read(va, 1) is None and s.read(va + PAGE, 1) is None, \
        "the VA was freed with its pages still mapped"
    s.free_frames(mfns)


@dataclass(frozen=True)
class Fix:
    check: Callable[[Sim], None]
    build: str  # the harness build where the bug shows: arch-debug or arch-release
    unfixed: str  # regex: how what the check says on the unfixed tree begins


FIXED = {
    "xrealloc-copy": Fix(xrealloc_copy, "x86_64-debug",
                         r"raised: AssertionError: _xrealloc\(\) copied bytes from past"),
    "xfree-check": Fix(xfree_check, "x86_64-debug",
                       r"hung|died: status 256" if harness.sanitizing() else r"hung"),
    "vm-init-top": Fix(vm_init_top, "arm64-release",
                       r"raised: AssertionError: VA past the region's end"),
    "vmalloc-zero": Fix(vmalloc_zero, "x86_64-release",
                        r"raised: AssertionError: a VA for nothing"),
    "vunmap-align": Fix(vunmap_align, "arm64-release",
                        r"raised: AssertionError: the VA was freed with its pages still mapped"),
}


def run(source, slug: str) -> str:
    arch, kind = FIXED[slug].build.split("-")
    h = harness.build(source.root, SERIES[source.variant] if source.variant else None,
                      arch=arch, release=kind == "release")

    def case() -> str:
        s = Sim(h)
        FIXED[slug].check(s)
        s.close()
        return "ok"
    return outcome(case, timeout=5.0)


def test_every_fix_has_a_test():
    assert set(FIXED) == {p.slug for p in FIXES.patches}


def pytest_generate_tests(metafunc):
    """Each fix's test on the trees with it, and on the control."""
    from .conftest import capabilities, fixes_source_ids, source_ids

    ids = [*source_ids(), *fixes_source_ids()]
    if "fixed" in metafunc.fixturenames:
        pairs = [(i, slug) for slug in sorted(FIXED) for i in ids if slug in capabilities(i)]
    elif "unfixed" in metafunc.fixturenames:
        pairs = [(i, slug) for slug in sorted(FIXED) for i in ids
                 if "unpatched" in capabilities(i)]
    else:
        return
    if pairs:  # none for a tree given by gen check: conftest deselects the test
        name = "fixed" if "fixed" in metafunc.fixturenames else "unfixed"
        metafunc.parametrize(("source", name), pairs, indirect=["source"], scope="session",
                             ids=[f"{i}-{slug}" for i, slug in pairs])


@pytest.mark.own_sources
def test_a_fixed_tree_passes(source, fixed):
    assert run(source, fixed) == "ok"


@pytest.mark.own_sources
def test_the_unfixed_tree_fails(source, unfixed):
    said = run(source, unfixed)
    assert re.match(FIXED[unfixed].unfixed, said), said
