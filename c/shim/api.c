/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The test API (api.h): lifecycle, and guarded wrappers around the tree's
 * real functions.  This file includes the tree's own <xen/vmap.h> and
 * <xen/xmalloc.h>, so every wrapper is checked against the real
 * declarations.
 */
#include <stdlib.h>

#include <xen/mm.h>
#include <xen/vmap.h>
#ifdef H_HAVE_XVFREE
#include <xen/xvmalloc.h>
#endif

#include <shim/api.h>
#include <tu/tu.h>

#ifdef NDEBUG
#error "mfn_t must be the typesafe struct: build without NDEBUG"
#endif

static unsigned long window_bytes;

/* Lifecycle. */

int h_init(unsigned long ram_pages, unsigned long boot_pages,
           unsigned long window_pages, unsigned long holes)
{
    shim_report_reset();
    shim_xlog_reset();
    shim_stop = 0;
    h_preempt_at(0, 0);
    system_state = SYS_STATE_active;
    window_bytes = window_pages << PAGE_SHIFT;
    if ( window_bytes > SHIM_WINDOW_BYTES || VMAP_REGION_NR > SHIM_NR_WINDOWS )
        return -1;
    if ( shim_ram_init(ram_pages, boot_pages, holes) )
        return -1;
    if ( shim_pt_init() )
    {
        shim_pt_fini();
        shim_ram_fini();
        return -1;
    }
    shim_signals_install();

    return 0;
}

H_WRAP_VOID(shim_xmalloc_reset_guarded, (void), shim_xmalloc_reset())

/*
 * Undo h_init().  xmalloc's pool is destroyed with the real function
 * first, which also takes it off 4.17's pool list, a static.
 */
void h_fini(void)
{
    if ( shim_nr_frames )
        shim_xmalloc_reset_guarded();
    shim_vmap_reset();
    shim_xenheap_vmap_reset();
    shim_pt_fini();
    shim_ram_fini();
    shim_signals_restore();
}

unsigned long h_window(unsigned int type)
{
    return shim_window(type);
}

/* The window, but on Arm (SHIM_ARM) VMAP_XEN has the livepatch area's size. */
static unsigned long region_bytes(unsigned int type)
{
#ifdef SHIM_ARM
    const bool arm = true;
#else
    const bool arm = false;
#endif

    if ( arm && type == VMAP_XEN && window_bytes > SHIM_ARM_VMAP_XEN_BYTES )
        return SHIM_ARM_VMAP_XEN_BYTES;

    return window_bytes;
}

unsigned long h_region_pages(unsigned int type)
{
    return region_bytes(type) >> PAGE_SHIFT;
}

void h_set_system_state(int state)
{
    system_state = state;
}

void h_end_boot(void)
{
    shim_end_boot();
    system_state = SYS_STATE_active;
}

/* Simulated RAM. */

unsigned long h_ram_pages(void)
{
    return shim_nr_frames;
}

unsigned long h_ram_free_pages(void)
{
    return shim_free_frames();
}

unsigned long h_total_pages(void)
{
    return total_pages;
}

/* How many of the frames [mfn, mfn + nr) are xenheap pages. */
unsigned long h_frames_xenheap(unsigned long mfn, unsigned long nr)
{
    unsigned long n = 0;

    for ( ; nr && mfn < shim_nr_frames; nr--, mfn++ )
        if ( shim_frame_present(mfn) && is_xen_heap_page(&frame_table[mfn]) )
            n++;

    return n;
}

/* Frames the xenheap holds: PGC_xen_heap, as the tree's code sets it. */
unsigned long h_ram_xenheap_pages(void)
{
    return h_frames_xenheap(0, shim_nr_frames);
}

/* How many of the frames [mfn, mfn + nr) are allocated. */
unsigned long h_frames_inuse(unsigned long mfn, unsigned long nr)
{
    unsigned long n = 0;

    for ( ; nr && mfn < shim_nr_frames; nr--, mfn++ )
        n += shim_frames[mfn].state == SHIM_FRAME_INUSE;

    return n;
}

int h_frame_present(unsigned long mfn)
{
    return shim_frame_present(mfn);
}

void *h_frame_ptr(unsigned long mfn)
{
    return mfn < shim_nr_frames ? shim_frame_va(mfn) : NULL;
}

/* PFN_ORDER() of a frame, as xmalloc keeps a whole-page block's size. */
unsigned long h_frame_order(unsigned long mfn)
{
    return shim_frame_present(mfn) ? PFN_ORDER(&frame_table[mfn]) : 0;
}

/* The fixed layout (layout.h). */
unsigned long h_layout(int which)
{
    switch ( which )
    {
    case H_XEN_VIRT_START: return XEN_VIRT_START;
    case H_XEN_VIRT_END: return XEN_VIRT_END;
    case H_FRAMETABLE_VIRT_START: return FRAMETABLE_VIRT_START;
    case H_DIRECTMAP_VIRT_START: return DIRECTMAP_VIRT_START;
    case H_DIRECTMAP_VIRT_END: return DIRECTMAP_VIRT_END;
    case H_PDX_GROUP_COUNT: return PDX_GROUP_COUNT;
    case H_MAX_PDX: return max_pdx;
    case H_VMAP_VIRT_START: return VMAP_VIRT_START;
    case H_VMAP_VIRT_END: return VMAP_VIRT_END;
#ifdef CONFIG_XENHEAP_VMAP
    case H_FWD_START: return XENHEAP_VMAP_FWD_START;
    case H_FWD_END: return XENHEAP_VMAP_FWD_END;
    case H_REV_START: return XENHEAP_VMAP_REV_START;
    case H_REV_END: return XENHEAP_VMAP_REV_END;
#endif
    }

    return 0;
}

/* The end of VMAP_DEFAULT, as h_vm_init() sets it up. */
void *arch_vmap_virt_end(void)
{
    return (void *)(shim_window(0) + window_bytes);
}

unsigned long h_alloc_domheap_pages(unsigned int order)
{
    struct page_info *pg = alloc_domheap_pages(NULL, order, 0);

    return pg ? mfn_x(page_to_mfn(pg)) : mfn_x(INVALID_MFN);
}

H_WRAP_VOID(h_free_domheap_pages, (unsigned long mfn, unsigned int order),
            free_domheap_pages(mfn_to_page(_mfn(mfn)), order))
H_WRAP(unsigned long, h_alloc_boot_pages,
       (unsigned long nr, unsigned long align),
       mfn_x(alloc_boot_pages(nr, align)))
H_WRAP_VOID(h_init_boot_pages, (unsigned long mfn, unsigned long nr),
            init_boot_pages(mfn << PAGE_SHIFT, (mfn + nr) << PAGE_SHIFT))

/* Page tables. */

H_WRAP(int, h_map_pages_to_xen,
       (unsigned long va, unsigned long mfn, unsigned long nr,
        unsigned int flags),
       map_pages_to_xen(va, _mfn(mfn), nr, flags))
H_WRAP(int, h_modify_xen_mappings,
       (unsigned long s, unsigned long e, unsigned int nf),
       modify_xen_mappings(s, e, nf))
H_WRAP(int, h_destroy_xen_mappings, (unsigned long s, unsigned long e),
       destroy_xen_mappings(s, e))
H_WRAP(int, h_populate_pt_range, (unsigned long va, unsigned long nr),
       populate_pt_range(va, nr))

unsigned int h_page_hypervisor(void)
{
    return PAGE_HYPERVISOR;
}

unsigned int h_page_hypervisor_ro(void)
{
    return PAGE_HYPERVISOR_RO;
}

/* vmap.c. */

H_WRAP_VOID(h_vm_init, (unsigned int type),
            vm_init_type(type, (void *)shim_window(type),
                         (void *)(shim_window(type) + region_bytes(type))))

static H_WRAP(void *, vmap_boxed,
              (const mfn_t *mfn, unsigned int granularity, unsigned int nr,
               unsigned int align, unsigned int flags, unsigned int type),
              __vmap(mfn, granularity, nr, align, flags, type))

void *h_vmap_with(const unsigned long *mfn, unsigned int granularity,
                  unsigned int nr, unsigned int align, unsigned int flags,
                  unsigned int type)
{
    mfn_t *boxed = calloc(nr ? nr : 1, sizeof(*boxed));
    unsigned int i;
    void *va;

    if ( !boxed )
        return NULL;
    for ( i = 0; i < nr; i++ )
        boxed[i] = _mfn(mfn[i]);
    va = vmap_boxed(boxed, granularity, nr, align, flags, type);
    free(boxed);

    return va;
}

void *h_vmap(const unsigned long *mfn, unsigned int nr)
{
    return h_vmap_with(mfn, 1, nr, 1, PAGE_HYPERVISOR, VMAP_DEFAULT);
}

H_WRAP_VOID(h_vunmap, (const void *va), vunmap(va))
H_WRAP(void *, h_vmalloc, (unsigned long size), vmalloc(size))
H_WRAP(void *, h_vmalloc_xen, (unsigned long size), vmalloc_xen(size))
H_WRAP(void *, h_vzalloc, (unsigned long size), vzalloc(size))
H_WRAP_VOID(h_vfree, (void *va), vfree(va))
H_WRAP(unsigned long, h_vmap_to_mfn, (const void *va),
       mfn_x(vmap_to_mfn(va)))
#ifdef H_HAVE_VMAP_SIZE
H_WRAP(unsigned int, h_vmap_size, (const void *va), vmap_size(va))
#endif
#ifdef H_HAVE_XVFREE
H_WRAP_VOID(h_xvfree, (void *va), xvfree(va))
#endif
#ifdef H_HAVE_VUNMAP_PARTIAL
H_WRAP(int, h_vunmap_partial, (const void *va, unsigned int nr),
       vunmap_partial(va, nr))
#endif
#ifdef H_HAVE_VMAP_XENHEAP
H_WRAP_VOID(h_vunmap_xenheap, (const void *va), vunmap_xenheap(va))
#endif
#ifdef H_HAVE_XENHEAP_FALLBACK
H_WRAP(unsigned int, h_vm_used, (unsigned int type), vm_used(type))
H_WRAP_VOID(h_xenheap_vmap_usage, (unsigned long *pages, unsigned long *allocs),
            xenheap_vmap_usage(pages, allocs))
#endif

/* The tree's xenheap functions (page_alloc.c). */

H_WRAP(void *, h_alloc_xenheap_pages,
       (unsigned int order, unsigned int memflags),
       alloc_xenheap_pages(order, memflags))
H_WRAP_VOID(h_free_xenheap_pages, (void *v, unsigned int order),
            free_xenheap_pages(v, order))

static unsigned long preempt_at, preempt_points;
static unsigned int preempt_order;
static bool preempt_fired;
static void *preempt_result;

void h_preempt_at(unsigned long n, unsigned int order)
{
    preempt_at = n;
    preempt_points = 0;
    preempt_order = order;
    preempt_fired = false;
    preempt_result = NULL;
}

unsigned long h_preempt_points(void)
{
    return preempt_points;
}

int h_preempt_fired(void)
{
    return preempt_fired;
}

void *h_preempt_result(void)
{
    return preempt_result;
}

void shim_preempt_point(void)
{
    shim_stress_point();
    if ( !preempt_at || ++preempt_points != preempt_at )
        return;
    /* Once: the other CPU's own points do not count. */
    preempt_at = 0;
    preempt_fired = true;
    preempt_result = alloc_xenheap_pages(preempt_order, 0);
}

unsigned int h_memf_directmap(void)
{
#ifdef MEMF_directmap
    return MEMF_directmap;
#else
    return 0;
#endif
}

#ifdef H_HAVE_XENHEAP_VMAP
/* The tree's conversions, as the code under test sees them. */

static H_WRAP(struct page_info *, virt_to_page_guarded, (const void *va),
              virt_to_page(va))

unsigned long h_virt_to_page(const void *va)
{
    struct page_info *pg = virt_to_page_guarded(va);

    return pg ? (unsigned long)(pg - frame_table) : ~0UL;
}

H_WRAP(void *, h_page_to_virt, (unsigned long pdx),
       page_to_virt(frame_table + pdx))
H_WRAP(unsigned long, h_virt_to_maddr, (const void *va), virt_to_maddr(va))
H_WRAP(unsigned long, h_virt_to_pdx, (const void *va), virt_to_pdx(va))
H_WRAP(void *, h_pdx_to_virt, (unsigned long pdx), pdx_to_virt(pdx))
#endif

/* xmalloc_tlsf.c. */

H_WRAP(void *, h_xmalloc, (unsigned long size, unsigned long align),
       _xmalloc(size, align))
H_WRAP(void *, h_xzalloc, (unsigned long size, unsigned long align),
       _xzalloc(size, align))
H_WRAP(void *, h_xrealloc,
       (void *p, unsigned long size, unsigned long align),
       _xrealloc(p, size, align))
H_WRAP_VOID(h_xfree, (void *p), xfree(p))
