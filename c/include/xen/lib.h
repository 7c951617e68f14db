/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <xen/lib.h>: ASSERT/BUG/WARN/printk, recorded; xmalloc from the
 * tree's real header.
 */
#include <shim/custom.h>
#include <xen/xmalloc.h>
