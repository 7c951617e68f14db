/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/sections.h>: section annotations, meaningless here. */
#include <shim/stubs.h>
