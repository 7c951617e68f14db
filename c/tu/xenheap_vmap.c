/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tree's xen/arch/x86/xenheap-vmap.c (the xenheap series' page->virt
 * and virt->page arrays), compiled as it is behind the fake headers when
 * the tree has it, followed by accessors for its statics.  gen/harness.py
 * defines XEN_XENHEAP_VMAP_C as the path of the file.
 */
#include <shim/api.h>
#include <tu/tu.h>

#ifdef CONFIG_XENHEAP_VMAP
#include XEN_XENHEAP_VMAP_C

void shim_xenheap_vmap_reset(void)
{
    xenheap_vmap_active = false;
#ifdef H_HAVE_VMAP_XENHEAP
    xenheap_vmap_bytes = 0;
#endif
#ifdef H_HAVE_XENHEAP_FALLBACK
    fallbacks = 0;
#endif
    opt_xenheap_vmap = true;
    memset(fwd_backed, 0, sizeof(fwd_backed));
    memset(rev_backed, 0, sizeof(rev_backed));
    spin_lock_init(&xenheap_vmap_lock);
}

/* The "xenheap-vmap=" boolean of the command line. */
void h_xv_set_opt(int on)
{
    opt_xenheap_vmap = on;
}

int h_xv_active(void)
{
    return xenheap_vmap_active;
}

H_WRAP_VOID(h_xv_init, (void), xenheap_vmap_init())
H_WRAP(int, h_xv_extend, (unsigned long spdx, unsigned long epdx),
       xenheap_vmap_extend(spdx, epdx))
H_WRAP(int, h_xv_track, (const void *va, unsigned long pdx, unsigned int nr),
       xenheap_vmap_track(va, pdx, nr))
H_WRAP_VOID(h_xv_untrack,
            (const void *va, unsigned long pdx, unsigned int nr),
            xenheap_vmap_untrack(va, pdx, nr))
H_WRAP(unsigned long, h_xv_lookup, (const void *va),
       xenheap_vmap_lookup(va))
H_WRAP(unsigned long, h_xv_virt_to_pdx, (unsigned long va),
       xenheap_vmap_virt_to_pdx(va))
H_WRAP(unsigned long, h_xv_virt_to_maddr, (unsigned long va),
       xenheap_vmap_virt_to_maddr(va))
H_WRAP(int, h_xv_report, (void), xenheap_vmap_report())

#ifdef H_HAVE_XENHEAP_FALLBACK
unsigned long h_xv_fallbacks(void)
{
    return fallbacks;
}
#endif

unsigned long h_xv_fwd_groups(void)
{
    return FWD_GROUPS;
}

unsigned long h_xv_rev_pages(void)
{
    return REV_NR / REV_PER_PAGE;
}

int h_xv_fwd_backed(unsigned long group)
{
    return group < FWD_GROUPS && test_bit(group, fwd_backed);
}

int h_xv_rev_backed(unsigned long page)
{
    return page < REV_NR / REV_PER_PAGE && test_bit(page, rev_backed);
}

/*
 * The arrays as they are in memory, read directly: every page->virt entry
 * that is set, as (pdx, vmap page index, the virt->page entry at that
 * index or ~0 if its page is not backed), and every virt->page entry that
 * is set, as (index, pdx).  Only the first max fit in out; returns the
 * number found.  Guarded: a backed bit over unmapped memory is a fault.
 */
static unsigned long scan(unsigned long *out, unsigned long max, bool rev)
{
    unsigned long i, n = 0;

    if ( !rev )
    {
        for ( i = 0; i < max_pdx; i++ )
        {
            uint32_t idx;

            if ( !test_bit(i / PDX_GROUP_COUNT, fwd_backed) )
            {
                i |= PDX_GROUP_COUNT - 1;
                continue;
            }
            idx = xenheap_vmap_fwd[i];
            if ( !idx )
                continue;
            if ( n < max )
            {
                out[3 * n] = i;
                out[3 * n + 1] = idx;
                out[3 * n + 2] = idx < REV_NR &&
                                 test_bit(idx / REV_PER_PAGE, rev_backed)
                                 ? xenheap_vmap_rev[idx] : ~0UL;
            }
            n++;
        }
        return n;
    }

    for ( i = 0; i < REV_NR; i++ )
    {
        if ( !test_bit(i / REV_PER_PAGE, rev_backed) )
        {
            i |= REV_PER_PAGE - 1;
            continue;
        }
        if ( !xenheap_vmap_rev[i] )
            continue;
        if ( n < max )
        {
            out[2 * n] = i;
            out[2 * n + 1] = xenheap_vmap_rev[i];
        }
        n++;
    }

    return n;
}

H_WRAP(unsigned long, h_xv_scan_fwd, (unsigned long *out, unsigned long max),
       scan(out, max, false))
H_WRAP(unsigned long, h_xv_scan_rev, (unsigned long *out, unsigned long max),
       scan(out, max, true))

#else /* !CONFIG_XENHEAP_VMAP */

void shim_xenheap_vmap_reset(void)
{
}

#endif /* CONFIG_XENHEAP_VMAP */
