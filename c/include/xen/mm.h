/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <xen/mm.h>: frame_table, allocators and page tables of the
 * simulated machine.
 */
#include <shim/custom.h>
#include <xen/lib.h>
