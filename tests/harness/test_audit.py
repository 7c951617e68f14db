"""The audit of vmap.c and xmalloc_tlsf.c (the README's "Audit" table):
what each misuse does on the unpatched tree, with x86-64's semantics and
with Arm64's (vunmap() through destroy_xen_mappings(), a 2 MiB VMAP_XEN),
in a debug build and in a release build, whose ASSERTs are compiled out.

Each case runs in a forked child, as some hang and some wreck the machine,
and says what it saw in a few words; EXPECTED holds what it says on every
upstream tree tried (Debian's 4.17.5 and staging), and WITH_FACT what
differs on a tree with one of the facts that the shim models,
so a change in any behaviour fails here before the README's table goes
stale.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable

import pytest

from gen import harness
from gen.harness import XenTrap
from gen.harness.extract import ARCH_FACTS, UNMAP_KEEPS_SUPERPAGES
from gen.sim import PAGE, SUPER_PAGES, VMAP_XEN, Sim

from .child import outcome

BUILDS = ("x86_64-debug", "x86_64-release", "arm64-debug", "arm64-release")


def _traps(fn: Callable[[Sim], str]) -> Callable[[Sim], str]:
    """What a case saw, or the trap that stopped it (a debug build's
    ASSERT, as Xen would crash)."""
    @functools.wraps(fn)
    def run(s: Sim) -> str:
        try:
            return fn(s)
        except XenTrap as e:
            return f"trap: {e.record.msg}"
    return run


def warned(s: Sim) -> str:
    return "WARN, " if any(r.kind == "WARN" for r in s.h.records()) else ""


@_traps
def vmalloc_zero(s: Sim) -> str:
    va = s.addr(s.h.vmalloc(0))
    if not va:
        return "NULL"
    reserved, unmapped = s.h.vm_size(s.ptr(va), 0), s.read(va, 1) is None
    s.h.vfree(s.ptr(va))
    return f"a VA, {reserved} pages reserved, unmapped={unmapped}; vfree() of it: " + \
        ("WARN" if warned(s) else "quiet")


@_traps
def vfree_foreign(s: Sim) -> str:
    p = s.h.xmalloc(64, 0)
    s.h.vfree(p)
    return warned(s) + "nothing freed"


@_traps
def vfree_interior(s: Sim) -> str:
    va = s.addr(s.h.vmalloc(3 * PAGE))
    s.h.vfree(s.ptr(va + PAGE))
    return warned(s) + f"mapped={s.read(va, 1) is not None}"


@_traps
def vfree_twice(s: Sim) -> str:
    va = s.addr(s.h.vmalloc(2 * PAGE))
    s.h.vfree(s.ptr(va))
    s.h.vfree(s.ptr(va))
    return warned(s) + "returned"


@_traps
def vfree_stale(s: Sim) -> str:
    a = s.addr(s.h.vmalloc(2 * PAGE))
    s.h.vfree(s.ptr(a))
    b = s.addr(s.h.vmalloc(2 * PAGE))
    s.h.vfree(s.ptr(a))
    return warned(s) + f"same VA={a == b}, new owner's mapping gone={s.read(b, 1) is None}"


@_traps
def vunmap_interior(s: Sim) -> str:
    mfns = s.frames(2)
    va = s.vmap(mfns)
    s.h.vunmap(s.ptr(va + 123))
    mapped = s.read(va, 1) is not None
    return warned(s) + f"mapped={mapped}, VA freed={s.h.vm_size(s.ptr(va), 0) == 0}"


@_traps
def vmalloc_xen_past_region(s: Sim) -> str:
    s.h.vm_init(VMAP_XEN)
    end = s.base(VMAP_XEN) + s.h.region_pages(VMAP_XEN) * PAGE
    va = s.addr(s.h.vmalloc_xen(600 * PAGE))
    return "NULL" if not va else f"past the region's end={va + 600 * PAGE > end}"


@_traps
def vunmap_out_of_memory(s: Sim) -> str:
    """vunmap() of a 2M superpage (vmap() of 512 contiguous frames at an
    aligned VA, as ioremap() of a large BAR can get) with no page left for
    a page table."""
    first = s.frames(1, order=9)[0]
    va = s.vmap(list(range(first, first + SUPER_PAGES)), align=SUPER_PAGES)
    level, refused = s.level(va), s.counter("H_HEAP_FAILS")
    s.h.fail_alloc(1)
    s.h.vunmap(s.ptr(va))
    s.h.fail_alloc(0)
    refused = s.counter("H_HEAP_FAILS") - refused
    return warned(s) + f"level {level}, {refused} table refused, " + \
        f"mapped={s.read(va, 1) is not None}, VA freed={s.h.vm_size(s.ptr(va), 0) == 0}"


@_traps
def xfree_twice(s: Sim) -> str:
    p = s.h.xmalloc(64, 0)
    s.h.xfree(p)
    s.h.xfree(p)
    said = warned(s) + "returned"
    try:
        s.close()
    except XenTrap as e:
        return f"{said}; the pool is corrupt: {e.record.msg}"
    return said + "; teardown clean"


@_traps
def xfree_pages_twice(s: Sim) -> str:
    p = s.h.xmalloc(2 * PAGE, 0)
    s.h.xfree(p)
    s.h.xfree(p)
    return warned(s) + "returned"


CASES = {f.__name__: f for f in (vmalloc_zero, vfree_foreign, vfree_interior, vfree_twice,
                                 vfree_stale, vunmap_interior, vmalloc_xen_past_region,
                                 vunmap_out_of_memory, xfree_twice, xfree_pages_twice)}

CORRUPT = ("returned; the pool is corrupt: free of mfn 0x6 order 1: mfn 0x7 is not "
           "allocated (double free?)")


# The superpage's teardown needs a page table on x86 only where the tree's
# map_pages_to_xen() shatters it; vunmap() ignores the failure.
SHATTERED = "level 2, 1 table refused, mapped=True, VA freed=True"
TORN_DOWN = "level 2, 0 table refused, mapped=False, VA freed=True"


def same(outcome_: str) -> dict[str, str]:
    return dict.fromkeys(BUILDS, outcome_)


def by_build(debug: str, release: str, arm_debug: str | None = None,
             arm_release: str | None = None) -> dict[str, str]:
    return {"x86_64-debug": debug, "x86_64-release": release,
            "arm64-debug": arm_debug or debug, "arm64-release": arm_release or release}


# What each case says, on each build.
EXPECTED = {
    "vmalloc_zero": by_build("trap: ASSERT(size)",
                             "a VA, 0 pages reserved, unmapped=True; vfree() of it: WARN"),
    "vfree_foreign": by_build("trap: ASSERT(pages)", "WARN, nothing freed"),
    "vfree_interior": by_build("trap: ASSERT(pages)", "WARN, mapped=True"),
    "vfree_twice": by_build("trap: ASSERT(pages)", "WARN, returned"),
    "vfree_stale": same("same VA=True, new owner's mapping gone=True"),
    "vunmap_interior": by_build("mapped=False, VA freed=True", "mapped=False, VA freed=True",
                                "trap: ASSERT(IS_ALIGNED(s, PAGE_SIZE))",
                                "mapped=True, VA freed=True"),
    "vmalloc_xen_past_region": by_build("past the region's end=False",
                                        "past the region's end=False",
                                        "past the region's end=True",
                                        "past the region's end=True"),
    "vunmap_out_of_memory": by_build(SHATTERED, SHATTERED, TORN_DOWN, TORN_DOWN),
    "xfree_twice": same(CORRUPT),
    "xfree_pages_twice": same("hung"),
}


# What differs on a tree with one of the facts that the shim models
# (gen/harness/extract.py ARCH_FACTS), by the define the fact gives.
WITH_FACT = {UNMAP_KEEPS_SUPERPAGES: {"vunmap_out_of_memory": same(TORN_DOWN)}}


@pytest.fixture(scope="module", params=BUILDS)
def build_of(request, source) -> tuple[str, harness.Harness]:
    arch, kind = request.param.split("-")
    return request.param, harness.build(source.root, None, arch=arch,
                                        release=kind == "release")


@pytest.mark.needs("unpatched")
@pytest.mark.parametrize("case", sorted(CASES))
def test_misuse(build_of, case):
    name, h = build_of
    want = EXPECTED[case][name]
    for define in set(WITH_FACT) & set(h.spec.defines):
        want = WITH_FACT[define].get(case, EXPECTED[case])[name]
    if case == "xfree_pages_twice" and harness.sanitizing():
        # UBSan stops the endless loop at its shift past the width of an int.
        want = "died: status 256"
    assert outcome(lambda: CASES[case](Sim(h)), timeout=5.0) == want


@pytest.mark.needs("unpatched")
def test_the_pool_functions_have_no_user_but_xmalloc(source):
    """Why the audit leaves xmem_pool_*() to the xmalloc suites: no code
    but xmalloc_tlsf.c, which declares and uses them for xmalloc()'s own
    pool, calls them."""
    call = re.compile(r"\bxmem_pool_\w+\(")
    users = sorted(str(p.relative_to(source.root)) for p in (source.root / "xen").rglob("*.[ch]")
                   if call.search(p.read_text(errors="replace")))
    assert users == ["xen/common/xmalloc_tlsf.c", "xen/include/xen/xmalloc.h"]


@pytest.mark.needs("unpatched")
@pytest.mark.parametrize("kind", ["debug", "release"])
def test_the_superpage_teardown_follows_the_tree(source, tmp_path, kind):
    """On a tree whose map_pages_to_xen() clears a superpage whole (here
    the control, given the line that says so), the shim's vunmap() of one
    needs no page table, where the control's shatters it first."""
    fact = ARCH_FACTS[0]
    shutil.copytree(source.root / "xen", tmp_path / "xen", symlinks=True)
    mm = tmp_path / fact[0]
    if fact[1] not in mm.read_text():
        mm.write_text(mm.read_text() + f"/* {fact[1]} */\n")
    h = harness.build(tmp_path, None, release=kind == "release")
    assert fact[2] in h.spec.defines
    assert outcome(lambda: vunmap_out_of_memory(Sim(h)), timeout=5.0) == TORN_DOWN
