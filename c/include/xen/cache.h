/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/cache.h>: section annotations, meaningless in a host process. */
#include <shim/stubs.h>
