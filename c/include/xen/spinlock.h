/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/spinlock.h>: spinlocks that catch a lock taken twice. */
#include <shim/custom.h>
