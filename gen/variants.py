"""The variants, declared: which patches, in which order, editing what.

This file is data.  How an edit is applied lives in series.py; what the
code says lives in templates/.  Edits with `when` apply only to trees
with (or, with "!", without) a baseline feature: the same change,
anchored where each tree has it.
"""

from __future__ import annotations

from gen.series import (
    BootOption,
    ChangelogEntry,
    Hook,
    Include,
    InsertAfter,
    InsertBefore,
    Lines,
    NewFile,
    Patch,
    Replace,
    Sub,
    TextAfter,
    Variant,
    Where,
    decl,
    fn,
    macro,
)

C = "c/xenheap/"
PAGE_ALLOC = "xen/common/page_alloc.c"
XENHEAP_COND = "!CONFIG_SEPARATE_XENHEAP"
MM_H = "xen/arch/x86/include/asm/mm.h"
PAGE_H = "xen/arch/x86/include/asm/x86_64/page.h"
XV_C = "xen/arch/x86/xenheap-vmap.c"
XV_H = "xen/arch/x86/include/asm/xenheap-vmap.h"
XH_H = "xen/include/xen/xenheap-vmap.h"
KCONFIG = "xen/common/Kconfig"
XMALLOC_C = "xen/common/xmalloc_tlsf.c"

VMAP_C = "xen/common/vmap.c"
VMAP_H = "xen/include/xen/vmap.h"
R = "c/region/"

VMAP_ALIGNED = Patch(
    slug="vmap-aligned",
    subject="xen/vmap: find room for aligned allocations without a full rescan",
    message="msg/vmap-aligned.txt.j2",
    edits=(
        InsertBefore(path=VMAP_C, template="c/vmap/vm_hint.c.j2", anchor=fn("vm_alloc")),
        Hook(path=VMAP_C, function="vm_alloc", where=Where.REPLACE,
             match=r"for \( start = vm_low\[t\]; start < vm_top\[t\]; \)",
             template="c/vmap/vm_hint-scan.c.j2"),
        Hook(path=VMAP_C, function="vm_alloc", template="c/vmap/vm_hint-alloc.c.j2",
             match=r"^\s+if \( start <= vm_low\[t\] \+ 2 \)\n\s+vm_low\[t\] = bit;$"),
        Hook(path=VMAP_C, function="vm_free", template="c/vmap/vm_hint-free.c.j2",
             match=r"^\s+spin_lock\(&vm_lock\);$"),
    ),
)

VMAP_PARTIAL = Patch(
    slug="vmap-partial",
    subject="xen/vmap: allow releasing part of an allocation",
    message="msg/vmap-partial.txt.j2",
    edits=(
        InsertAfter(path=VMAP_C, template="c/vmap/vunmap_partial.c.j2",
                    anchor=fn("vunmap")),
        InsertAfter(path=VMAP_H, template="c/vmap/vunmap_partial.h.j2",
                    anchor=decl("vunmap")),
    ),
)

XENHEAP_TRACK = Patch(
    slug="xenheap-track",
    subject="x86/mm: track the vmap address of xenheap pages",
    message="msg/xenheap-track.txt.j2",
    kconfig=("UNSUPPORTED", "XENHEAP_VMAP"),
    kconfig_arches=("x86_64",),  # HAS_XENHEAP_VMAP: only x86 selects it
    edits=(
        # Common code sees a common option and header; x86 selects it.
        TextAfter(path=KCONFIG, template=C + "kconfig-has.j2", when="kconfig_has_vmap",
                  match=r"^config HAS_VMAP$"),
        TextAfter(path=KCONFIG, template=C + "kconfig-has.j2", when="!kconfig_has_vmap",
                  match=r"^config HAS_UBSAN$"),
        TextAfter(path=KCONFIG, template=C + "kconfig.j2", match=r"^config NUMA$"),
        Lines(path="xen/arch/x86/Kconfig", template=C + "kconfig-select.j2",
              match=r"^\tselect HAS_VPCI if HVM$"),
        NewFile(path=XH_H, template=C + "xenheap-vmap-api.h.j2"),
        Lines(path="xen/arch/x86/Makefile", template=C + "makefile.j2",
              match=r"^obj-y \+= xstate\.o$", where=Where.BEFORE),
        Lines(path="xen/arch/x86/include/asm/config.h", template=C + "layout.j2",
              match=r"^ \*  0xffff82d080000000 - 0xffff82dfffffffff \[62GB, ",
              where=Where.REPLACE),
        Lines(path="xen/arch/x86/include/asm/config.h", template=C + "layout-bigmem.j2",
              match=r"^ \*  0xffff82d080000000 - 0xffff82ffffffffff \[190GB, ",
              where=Where.REPLACE),
        InsertAfter(path="xen/arch/x86/include/asm/config.h",
                    template=C + "layout-macros.h.j2", anchor=macro("XEN_VIRT_END")),
        NewFile(path=XV_H, template=C + "xenheap-vmap.h.j2"),
        Lines(path=PAGE_H, template=C + "page-h-include.h.j2", match=r"^#include <xen/pdx\.h>$"),
        NewFile(path=XV_C, template=C + "xenheap-vmap.c.j2"),
        Hook(path="xen/arch/x86/x86_64/mm.c", template=C + "hotadd.c.j2",
             function="extend_frame_table", match=r"^\s+while \( cidx < eidx \)$",
             where=Where.BEFORE),
    ),
)


def _conversions(prefix: str, when: str) -> tuple[Hook, ...]:
    """The hooks in x86's inline virt_to_page() and page_to_virt(), named
    with a "__" prefix (under a wrapping macro) in older trees."""
    return (
        Hook(path=MM_H, function=f"{prefix}virt_to_page", when=when,
             match=r"^\s+ASSERT\(va >= XEN_VIRT_START\);\n", where=Where.REPLACE),
        Hook(path=MM_H, template=C + "virt-to-page.c.j2", function=f"{prefix}virt_to_page",
             when=when, where=Where.REPLACE,
             match=r"^\s+if \( va < XEN_VIRT_END \)\n\s+va \+= DIRECTMAP_VIRT_START - "
                   r"XEN_VIRT_START \+ xen_phys_start;\n"),
        Hook(path=MM_H, template=C + "page-to-virt-decl.c.j2", function=f"{prefix}page_to_virt",
             when=when, match=r"^\{$"),
        Hook(path=MM_H, template=C + "page-to-virt.c.j2", function=f"{prefix}page_to_virt",
             when=when, match=r"ASSERT\(\(unsigned long\)pg - FRAMETABLE_VIRT_START < "
                              r"FRAMETABLE_SIZE\);"),
    )


def _virt_to_maddr(prefix: str, when: str) -> Hook:
    """The hook in x86's inline virt_to_maddr(), renamed as the others were
    but in another release."""
    return Hook(path=PAGE_H, template=C + "virt-to-maddr.c.j2", function=f"{prefix}virt_to_maddr",
                when=when, where=Where.BEFORE,
                match=r"BUILD_BUG_ON\(XEN_VIRT_END - XEN_VIRT_START != GB\(1\)\);")


XENHEAP_CONV = Patch(
    slug="xenheap-conv",
    subject="x86/mm: make the virt/page conversions vmap-aware",
    message="msg/xenheap-conv.txt.j2",
    edits=(
        NewFile(path=XH_H, template=C + "xenheap-vmap-api.h.j2", grows=True),
        NewFile(path=XV_H, template=C + "xenheap-vmap.h.j2", grows=True),
        NewFile(path=XV_C, template=C + "xenheap-vmap.c.j2", grows=True),
        *_conversions("__", "x86_page_conv_underscored"),
        *_conversions("", "!x86_page_conv_underscored"),
        _virt_to_maddr("__", "x86_maddr_conv_underscored"),
        _virt_to_maddr("", "!x86_maddr_conv_underscored"),
        Lines(path=PAGE_H, template=C + "pdx-note.h.j2",
              match=r"therefore don't need to handle the XEN_VIRT_\{START,END\} range\.$"),
        Replace(path=PAGE_H, template=C + "virt-to-pdx.h.j2", anchor=macro("virt_to_pdx")),
        Replace(path=PAGE_H, template=C + "pdx-to-virt.h.j2", anchor=macro("pdx_to_virt")),
    ),
)

PERDOMAIN_MAP = Patch(
    slug="perdomain-map",
    subject="x86/mm: don't assume xenheap memory is in the direct map",
    message="msg/perdomain-map.txt.j2",
    edits=(
        Hook(path="xen/arch/x86/mm.c", template=C + "perdomain.c.j2",
             function="create_perdomain_mapping", match=r"^\s+pg = virt_to_page\(l1tab\);$"),
        Hook(path="xen/arch/x86/mm.c", function="create_perdomain_mapping", where=Where.REPLACE,
             match=r"^\s+/\* Note that this is a no-op for the alloc_xenheap_page\(\) "
                   r"case\. \*/\n"),
    ),
)

XPTI_DIRECTMAP = Patch(
    slug="xpti-directmap",
    subject="x86: keep what XPTI clones in the direct map",
    message="msg/xpti-directmap.txt.j2",
    edits=(
        Lines(path="xen/include/xen/mm.h", template=C + "memf-directmap.h.j2",
              match=r"^#define  MEMF_no_scrub "),
        Hook(path="xen/arch/x86/percpu.c", template=C + "percpu-x86.c.j2",
             function="init_percpu_area", when="!percpu_common", where=Where.REPLACE,
             match=r"if \( \(p = alloc_xenheap_pages\(PERCPU_ORDER, 0\)\) == NULL \)"),
        Hook(path="xen/common/percpu.c", template=C + "percpu-common.c.j2",
             function="init_percpu_area", when="percpu_common", where=Where.REPLACE,
             match=r"if \( \(p = alloc_xenheap_pages\(PERCPU_ORDER, (?:0|memflags)\)\) "
                   r"== NULL \)"),
        Hook(path="xen/arch/x86/smpboot.c", template=C + "root-pgt.c.j2",
             function="setup_cpu_root_pgt", match=r"^\s+rpt = alloc_xenheap_page\(\);$",
             where=Where.REPLACE),
        Hook(path="xen/arch/x86/smpboot.c", template=C + "stack.c.j2",
             function="cpu_alloc_stack", where=Where.REPLACE,
             match=r"^\s+stack = alloc_xenheap_pages\(STACK_ORDER, memflags\);$"),
        Sub(path="xen/arch/x86/smpboot.c", function="cpu_smpboot_alloc",
            pattern=r"(idt_tables\[cpu\]|per_cpu\(idt, cpu\)) = "
                    r"alloc_xenheap_pages\(0, memflags\);",
            repl=r"\1 = alloc_xenheap_pages(0, memflags | MEMF_directmap);"),
    ),
)

XREALLOC_COPY = Patch(
    slug="xrealloc-copy",
    subject="xmalloc: don't read past the old block in _xrealloc()",
    message="msg/xrealloc-copy.txt.j2",
    trailers=(("Fixes", '50879e805edb ("xen/common: Introduce _xrealloc function")'),),
    edits=(
        # After the padded branch's closing brace, whose indentation it takes.
        Hook(path=XMALLOC_C, template=C + "xrealloc-copy.c.j2",
             function="_xrealloc",
             match=r"^ +\}\n(?= +\}\n\n +p = _xmalloc\(size, align\);$)"),
    ),
)

XFREE_CHECK = Patch(
    slug="xfree-check",
    subject="xmalloc: warn instead of freeing garbage on a bad xfree()",
    message="msg/xfree-check.txt.j2",
    trailers=(("Fixes", 'fb034f42648e ("xmalloc: make close-to-PAGE_SIZE allocations more '
                        'efficient")'),),
    edits=(
        Hook(path=XMALLOC_C, template=C + "xfree-head.c.j2", function="xfree",
             match=r"^\s+unsigned long size = PFN_ORDER\(virt_to_page\(p\)\);$",
             where=Where.REPLACE),
        Hook(path=XMALLOC_C, template=C + "xfree-check.c.j2", function="xfree",
             match=r"^\s+unsigned int i, order = get_order_from_pages\(size\);$"),
        Hook(path=XMALLOC_C, template=C + "xfree-clear.c.j2", function="xfree",
             match=r"^\s+PFN_ORDER\(virt_to_page\(p\)\) = 0;$", where=Where.REPLACE),
    ),
)

# The fixes series: upstream bugs in vmap and xmalloc that the harness
# found (the README's audit), each fix on its own, for staging today.
VM_INIT_TOP = Patch(
    slug="vm-init-top",
    subject="xen/vmap: keep a region smaller than a bitmap page within its end",
    message="msg/vm-init-top.txt.j2",
    trailers=(("Fixes", '9e3e7117770a ("arm/x86/vmap: Add vmalloc_xen and vm_init_type")'),),
    edits=(
        Sub(path=VMAP_C, function="vm_init_type",
            pattern=r"vm_top\[type\] = nr \* PAGE_SIZE \* 8;",
            repl="vm_top[type] = min_t(unsigned int, nr * PAGE_SIZE * 8, vm_end[type]);"),
    ),
)

VMALLOC_ZERO = Patch(
    slug="vmalloc-zero",
    subject="xen/vmap: refuse vmalloc(0) in release builds too",
    message="msg/vmalloc-zero.txt.j2",
    trailers=(("Fixes", 'f278fcf19ce1 ("introduce a helper to allocate non-contiguous '
                        'memory")'),),
    edits=(
        Hook(path=VMAP_C, template="c/fixes/vmalloc-zero.c.j2", function="vmalloc_type",
             match=r"^\s+ASSERT\(size\);$", where=Where.REPLACE),
    ),
)

VUNMAP_ALIGN = Patch(
    slug="vunmap-align",
    subject="xen/vmap: tear down from the start of the page in vunmap()",
    message="msg/vunmap-align.txt.j2",
    trailers=(("Fixes", '9cc0618eb098 ("xen/arm: mm: Sanity check any update of Xen page '
                        'tables")'),),
    edits=(
        Sub(path=VMAP_C, function="vunmap",
            pattern=r"unsigned long addr = \(unsigned long\)va;",
            repl="unsigned long addr = (unsigned long)va & PAGE_MASK;"),
    ),
)

XMALLOC_SPARE = Patch(
    slug="xmalloc-spare",
    subject="xmalloc: keep an emptied pool page for the next allocation",
    message="msg/xmalloc-spare.txt.j2",
    edits=(
        InsertBefore(path=XMALLOC_C, template=C + "xmalloc-spare.c.j2",
                     anchor=fn("xmalloc_pool_get")),
        Replace(path=XMALLOC_C, template=C + "xmalloc-pool-get.c.j2",
                anchor=fn("xmalloc_pool_get")),
        Replace(path=XMALLOC_C, template=C + "xmalloc-pool-put.c.j2",
                anchor=fn("xmalloc_pool_put")),
    ),
)

XMALLOC_NO_TRIM = Patch(
    slug="xmalloc-no-trim",
    subject="xmalloc: keep whole blocks of the xenheap that are on vmap",
    message="msg/xmalloc-no-trim.txt.j2",
    edits=(
        Include(path=XMALLOC_C, header="xen/xenheap-vmap.h"),
        Hook(path=XMALLOC_C, template=C + "no-trim.c.j2",
             function="xmalloc_whole_pages", where=Where.BEFORE,
             match=r"^\s+for \( p = res \+ PAGE_ALIGN\(size\), i = 0; i < order; \+\+i \)$"),
    ),
)

XENHEAP_VMAP = Patch(
    slug="xenheap-vmap",
    subject="xen/page_alloc: put the xenheap on vmap",
    message="msg/xenheap-vmap.txt.j2",
    edits=(
        Include(path=PAGE_ALLOC, header="xen/vmap.h"),
        Include(path=PAGE_ALLOC, header="xen/xenheap-vmap.h"),
        InsertBefore(path=PAGE_ALLOC, template=C + "xenheap-vmap-fns.c.j2",
                     anchor=fn("alloc_xenheap_pages", XENHEAP_COND)),
        Hook(path=PAGE_ALLOC, template=C + "alloc-domheap.c.j2", function="alloc_xenheap_pages",
             cond=XENHEAP_COND, where=Where.REPLACE,
             match=r"^\s+pg = alloc_domheap_pages\(NULL, order, memflags \| MEMF_no_scrub\);$"),
        Hook(path=PAGE_ALLOC, template=C + "alloc-vmap.c.j2", function="alloc_xenheap_pages",
             cond=XENHEAP_COND,
             match=r"^\s+if \( unlikely\(pg == NULL\) \)\n\s+return NULL;$"),
        Hook(path=PAGE_ALLOC, template=C + "free-vunmap.c.j2", function="free_xenheap_pages",
             cond=XENHEAP_COND, match=r"^\s+pg = virt_to_page\(v\);$", where=Where.REPLACE),
        Hook(path=PAGE_ALLOC, template=C + "key-m.c.j2", function="pagealloc_info",
             match=r'^\s+printk\("    Dom heap: '),
        InsertAfter(path=VMAP_C, template=C + "vm-used.c.j2", anchor=fn("vm_size")),
        InsertAfter(path=VMAP_H, template=C + "vm-used.h.j2", anchor=decl("vunmap_xenheap")),
        # The arrays are set up here, where they are first used.
        Hook(path="xen/arch/x86/setup.c", template=C + "setup-init.c.j2",
             function="__start_xen", match=r"^\s+bsp_stack = cpu_alloc_stack\(0\);",
             where=Where.BEFORE),
        NewFile(path=XH_H, template=C + "xenheap-vmap-api.h.j2", grows=True),
        NewFile(path=XV_C, template=C + "xenheap-vmap.c.j2", grows=True),
        Lines(path=KCONFIG, template=C + "kconfig-cmdline.j2",
              match=r"^\t  guard page per allocation\.$"),
        Lines(path="docs/misc/xen-command-line.pandoc", template=C + "doc.j2",
              match=r"^### xenheap_megabytes ", where=Where.BEFORE),
        ChangelogEntry(path="CHANGELOG.md", template=C + "changelog.j2"),
        Lines(path="SUPPORT.md", template=C + "support.j2",
              match=r"^### Dynamic memory control$", where=Where.BEFORE),
    ),
)

XENHEAP_REGION = Patch(
    slug="xenheap-region",
    subject="xen/vmap: give the xenheap a vmap region of its own",
    message="msg/xenheap-region.txt.j2",
    edits=(
        Lines(path=VMAP_H, template=R + "enum.h.j2", match=r"^    VMAP_XEN,$"),
        Lines(path=VMAP_H, template=R + "vmap-h-ranges.j2", when="vmap_h_documented",
              where=Where.REPLACE,
              match=r"^ \* Two ranges of linear address space are reserved for this purpose"),
        Lines(path=VMAP_H, template=R + "vmap-h-third.j2", when="vmap_h_documented",
              match=r"^ \* latter is used when loading livepatches and the former for"),
        # vunmap() and vfree() keep to VMAP_DEFAULT and VMAP_XEN; the
        # xenheap unmaps its own region.
        Replace(path=VMAP_C, template=R + "vm_free.c.j2", anchor=fn("vm_free"),
                shape=r"^static void vm_free\(const void \*va\)$"),
        InsertAfter(path=VMAP_C, template=R + "vunmap_xenheap.c.j2", anchor=fn("vunmap")),
        Hook(path=VMAP_C, template=R + "vmap-undo.c.j2", function="__vmap", where=Where.REPLACE,
             match=r"^\s+vunmap\(va\);$"),
        InsertAfter(path=VMAP_H, template=R + "vunmap_xenheap.h.j2", anchor=decl("vunmap")),
        Lines(path="xen/arch/x86/include/asm/config.h", template=R + "layout.j2",
              match=r"^ \*    vmap\(\)/ioremap\(\)/fixmap area\.$"),
        InsertAfter(path="xen/arch/x86/include/asm/config.h", template=R + "macros.h.j2",
                    anchor=macro("XENHEAP_VMAP_REV_END")),
        Hook(path="xen/arch/x86/mm.c", template=R + "virt-end.c.j2",
             function="arch_vmap_virt_end", where=Where.BEFORE,
             match=r"^\s+return fix_to_virt\(__end_of_fixed_addresses\);$"),
        NewFile(path=XH_H, template=C + "xenheap-vmap-api.h.j2", grows=True),
        NewFile(path=XV_C, template=C + "xenheap-vmap.c.j2", grows=True),
    ),
)

XENHEAP_ON_VMAP = BootOption(
    name="xenheap-vmap", on="", off="xenheap-vmap=no",
    expect=(("xenheap-on-vmap", r"Xenheap on vmap: VA "),
            ("xenheap-pages", r"Xenheap on vmap: [1-9]\d* pages in [1-9]\d* allocations")),
    expect_off=(("xenheap-off", r"Xenheap on vmap: disabled"),),
)

FIXES = Variant(
    name="fixes",
    summary="independent fixes to vmap and xmalloc upstream, each with a Fixes: tag",
    title="xen: fixes to vmap and xmalloc found by a userspace harness",
    patches=(XREALLOC_COPY, XFREE_CHECK, VM_INIT_TOP, VMALLOC_ZERO, VUNMAP_ALIGN),
    independent=True,
)

# The patches both variants share come first, so that both series build
# the same trees up to where they differ (and ccache serves the second).
# Both apply on top of the fixes, which are posted on their own.
SHARED_HEAD = (VMAP_ALIGNED, XENHEAP_TRACK, XENHEAP_CONV, PERDOMAIN_MAP, XPTI_DIRECTMAP,
               XMALLOC_SPARE, XENHEAP_REGION)

SPLIT_VMAP = Variant(
    name="split-vmap",
    summary="xmalloc keeps trimming whole-page allocations; vmap learns to free part "
            "of an allocation",
    title="xen: put the xenheap on vmap, keeping xmalloc()'s trimming",
    patches=(*SHARED_HEAD, VMAP_PARTIAL, XENHEAP_VMAP),
    boot_options=(XENHEAP_ON_VMAP,),
    prerequisite=FIXES,
)

NO_TRIM = Variant(
    name="no-trim",
    summary="xmalloc keeps whole power-of-two blocks on vmap; vmap gets no partial unmap",
    title="xen: put the xenheap on vmap, keeping whole xmalloc() blocks",
    patches=(*SHARED_HEAD, XMALLOC_NO_TRIM, XENHEAP_VMAP),
    boot_options=(XENHEAP_ON_VMAP,),
    prerequisite=FIXES,
)

# The xenheap series: the variants that bench, sweep and the harness's
# patched sources compare.
VARIANTS = {v.name: v for v in (SPLIT_VMAP, NO_TRIM)}
# Every series the CLI generates and checks.
SERIES = {**VARIANTS, FIXES.name: FIXES}
