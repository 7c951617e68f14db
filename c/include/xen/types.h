/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/types.h>: fixed-width types. */
#include <shim/stubs.h>
