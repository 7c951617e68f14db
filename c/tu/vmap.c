/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tree's xen/common/vmap.c, compiled as it is behind the fake headers,
 * followed by accessors for its statics.  gen/harness.py defines
 * XEN_VMAP_C as the path of the file, as Xen's tools/tests/pdx includes
 * the real pdx.c.
 */
#pragma GCC diagnostic push
/* vzalloc() counts with an int up to a size_t. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include XEN_VMAP_C
#pragma GCC diagnostic pop

#include <shim/api.h>
#include <tu/tu.h>

void *h_vm_base(unsigned int type)
{
    return type < VMAP_REGION_NR ? vm_base[type] : NULL;
}

unsigned int h_vm_low(unsigned int type)
{
    return type < VMAP_REGION_NR ? vm_low[type] : 0;
}

unsigned int h_vm_top(unsigned int type)
{
    return type < VMAP_REGION_NR ? vm_top[type] : 0;
}

unsigned int h_vm_size(const void *va, unsigned int type)
{
    return type < VMAP_REGION_NR ? vm_size(va, type) : 0;
}

unsigned int h_vm_end(unsigned int type)
{
    return type < VMAP_REGION_NR ? vm_end[type] : 0;
}

void shim_vmap_reset(void)
{
    memset(vm_base, 0, sizeof(vm_base));
    memset(vm_top, 0, sizeof(vm_top));
    memset(vm_end, 0, sizeof(vm_end));
    memset(vm_low, 0, sizeof(vm_low));
#ifdef H_HAVE_VM_HINT
    memset(vm_hint, 0, sizeof(vm_hint));
#endif
    spin_lock_init(&vm_lock);
}
