/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/bitmap.h>: bitmap operations. */
#include <shim/stubs.h>
