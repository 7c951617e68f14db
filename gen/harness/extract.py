"""What the harness takes from a tree: the xenheap functions out of
page_alloc.c, the MEMF_* flags, the series' x86 conversions and layout
macros, and the H_HAVE_* defines for what the tree has."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from gen import baseline, cedit
from gen.cedit import Kind
from gen.errors import AnchorError, GenError

# The xenheap functions of page_alloc.c, for x86's !CONFIG_SEPARATE_XENHEAP,
# and the series' helpers they call, for CONFIG_XENHEAP_VMAP.
XENHEAP = ("alloc_xenheap_pages", "free_xenheap_pages")
XENHEAP_COND = "!CONFIG_SEPARATE_XENHEAP"
XENHEAP_VMAP = ("xenheap_vmap", "xenheap_vunmap")
XENHEAP_VMAP_COND = "CONFIG_XENHEAP_VMAP"

# The xenheap series' files and the x86 headers its conversions live in.
XV_C = "xen/arch/x86/xenheap-vmap.c"
XV_H = "xen/arch/x86/include/asm/xenheap-vmap.h"
XH_H = "xen/include/xen/xenheap-vmap.h"  # what common code sees of it
ASM = "xen/arch/x86/include/asm/"
MM_H = "xen/include/xen/mm.h"

def declares(path: Path, name: str) -> bool:
    """Whether the file declares a function or object called name."""
    return any(it.name == name and it.kind is Kind.DECLARATION
               for it in cedit.parse(path.read_text()))


# The traits of a series the harness builds differently for (the slugs of
# the patches it applies): what each puts in the tree, where (a file, or a
# name declared in one), and the defines it gives the build.
TRAITS = {
    "vmap-aligned": ("xen/common/vmap.c", "vm_hint", ("H_HAVE_VM_HINT",)),
    "vmap-partial": ("xen/include/xen/vmap.h", "vunmap_partial", ("H_HAVE_VUNMAP_PARTIAL",)),
    "xmalloc-spare": ("xen/common/xmalloc_tlsf.c", "xmalloc_spare", ("H_HAVE_XMALLOC_SPARE",)),
    "xenheap-track": (XV_C, None, ("H_HAVE_XENHEAP_VMAP", "CONFIG_XENHEAP_VMAP")),
    "xenheap-region": (XH_H, "xenheap_vmap_bytes", ("H_HAVE_VMAP_XENHEAP",)),
    "xenheap-vmap": (XH_H, "xenheap_vmap_fallback", ("H_HAVE_XENHEAP_FALLBACK",)),
}


# The baseline features the harness builds differently for.
BASELINE_DEFINES = {"vmap_size": "H_HAVE_VMAP_SIZE", "xv_by_vm_size": "H_HAVE_XVFREE"}

# Facts of the tree's x86 page-table code, which the shim models rather
# than runs: (file, text that only a tree with the fact has, define).
# map_pages_to_xen() checks only the VA's alignment for a superpage that it
# unmaps (5b52e1b0436f, b1ebb6461a; 4.18.4 and 4.19.1 on): before it, the
# bits of INVALID_MFN made it shatter every superpage that it unmapped,
# which takes a page-table page.
UNMAP_KEEPS_SUPERPAGES = "H_X86_UNMAP_KEEPS_SUPERPAGES"
ARCH_FACTS = (("xen/arch/x86/mm.c", "IS_L2E_ALIGNED(virt, flags & _PAGE_PRESENT ? mfn : _mfn(0))",
               UNMAP_KEEPS_SUPERPAGES),)


def defines_for(root: Path, traits: frozenset[str]) -> tuple[str, ...]:
    """H_HAVE_* and CONFIG_* for the series' traits and what the baseline
    has.  A trait that the tree does not bear out, either way, is an error:
    the harness is built from what the series declares, not from guesses."""
    base = baseline.probe(root)
    have = [define for feature, define in BASELINE_DEFINES.items() if base.has(feature)]
    have += [define for rel, text, define in ARCH_FACTS if text in (root / rel).read_text()]
    for slug, (rel, name, defines) in TRAITS.items():
        present = (root / rel).exists() and (name is None or declares(root / rel, name))
        if present != (slug in traits):
            what = rel if name is None else f"{name} in {rel}"
            raise GenError(f"{root} does not match its series: patch {slug} is "
                           f"{'' if slug in traits else 'not '}in it, but the tree "
                           f"{'lacks' if slug in traits else 'has'} {what}")
        if present:
            have += defines
    return tuple(have)


def _taken(src: str, rel: str, item: cedit.Item) -> str:
    """An item's text, after a #line naming where it was taken from."""
    line = src.count("\n", 0, item.start) + 1
    return f'#line {line} "{rel}"\n{item.text(src)}'


def xenheap_unit(root: Path, traits: frozenset[str]) -> str:
    """The tree's xenheap functions as a translation unit, with #line
    directives so that records name page_alloc.c and its real lines."""
    rel = "xen/common/page_alloc.c"
    src = (root / rel).read_text()
    parts = ["#include <tu/xenheap.h>\n"]
    if "xenheap-track" in traits:
        parts += [_taken(src, rel, cedit.find(src, name, Kind.FUNCTION, rel, XENHEAP_VMAP_COND))
                  for name in XENHEAP_VMAP]
    parts += [_taken(src, rel, cedit.find(src, name, Kind.FUNCTION, rel, XENHEAP_COND))
              for name in XENHEAP]
    return "".join(parts)


def memf_header(root: Path) -> str:
    """The tree's MEMF_* flags (as defined in its xen/mm.h)."""
    src = (root / MM_H).read_text()
    items = [it for it in cedit.parse(src)
             if it.kind is Kind.MACRO and re.match(r"_?MEMF_", it.name)]
    if not any(it.name == "MEMF_bits" for it in items):
        raise GenError(f"{root / MM_H} defines no MEMF_bits()")
    return "".join(_taken(src, MM_H, it) for it in items)


def _first(root: Path, rel: str, names: Sequence[str], kind: Kind) -> str | None:
    """The first of names that rel defines as kind, with its #line; None if
    it defines none of them."""
    src = (root / rel).read_text()
    for name in names:
        try:
            return _taken(src, rel, cedit.find(src, name, kind, rel))
        except AnchorError:
            continue
    return None


def conv_header(root: Path) -> str:
    """The tree's x86 conversions with its xenheap arrays, in the order the
    x86 headers define them: the arrays' layout macros (asm/config.h), the
    tree's asm/xenheap-vmap.h, virt_to_pdx()/pdx_to_virt() and
    virt_to_maddr() (asm/x86_64/page.h), virt_to_page()/page_to_virt()
    (asm/mm.h), and the wrappers of older trees (asm/page.h)."""
    config, page64, mm, page = (ASM + "config.h", ASM + "x86_64/page.h", ASM + "mm.h",
                                ASM + "page.h")
    wanted: list[tuple[str, tuple[str, ...], Kind, bool]] = [
        *((config, (m,), Kind.MACRO, True)
          for m in ("XENHEAP_VMAP_FWD_NR", "XENHEAP_VMAP_FWD_START", "XENHEAP_VMAP_FWD_END",
                    "XENHEAP_VMAP_REV_START", "XENHEAP_VMAP_REV_END")),
        (page64, ("virt_to_pdx",), Kind.MACRO, True),
        (page64, ("pdx_to_virt",), Kind.MACRO, True),
        (page64, ("__virt_to_maddr", "virt_to_maddr"), Kind.FUNCTION, True),
        (page64, ("virt_to_maddr",), Kind.MACRO, False),
        (mm, ("__virt_to_page", "virt_to_page"), Kind.FUNCTION, True),
        (mm, ("__page_to_virt", "page_to_virt"), Kind.FUNCTION, True),
        (page, ("virt_to_maddr",), Kind.MACRO, False),
        (page, ("virt_to_page",), Kind.MACRO, False),
        (page, ("page_to_virt",), Kind.MACRO, False),
    ]
    parts = ["/* Generated by gen/harness/extract.py from the tree's x86 headers. */\n"]
    for i, (rel, names, kind, required) in enumerate(wanted):
        text = _first(root, rel, names, kind)
        if text is None and required:
            raise GenError(f"{root / rel} defines no {kind.value} {' or '.join(names)}")
        if text is not None:
            parts.append(text)
        if i == 4:  # after the layout macros its inline functions use
            parts.append("#include XEN_ASM_XENHEAP_VMAP_H\n")
    return "".join(parts)


def headers_for(root: Path, traits: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The generated headers of a build, as (name under tree/, text)."""
    out = [("memf.h", memf_header(root))]
    if "xenheap-track" in traits:
        out.append(("conv.h", conv_header(root)))
    return tuple(out)


