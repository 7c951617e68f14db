/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Records of what the code under test did wrong, and the guard stack that
 * turns a BUG(), a failed ASSERT() or a fault into a return to the test.
 */
#ifndef SHIM_REPORT_H
#define SHIM_REPORT_H

#include <setjmp.h>

#include "api.h"

/* One guarded harness call; see GUARD_ENTER() below. */
struct shim_guard {
    sigjmp_buf env;
    struct shim_guard *prev;
};

/*
 * sigsetjmp() must run in the frame that is jumped back to, so entering a
 * guard is a macro: true on entry, false after a trap has come back here.
 */
#define GUARD_ENTER(g) (sigsetjmp((g).env, 1) == 0 && shim_guard_push(&(g)))

int shim_guard_push(struct shim_guard *g);
void shim_guard_leave(struct shim_guard *g);
int shim_guard_active(void);

/*
 * A guarded call: a BUG(), a failed ASSERT() or a fault inside `call`
 * comes back here, and the wrapper returns 0 (h_trapped() tells).
 */
#define H_WRAP(type, name, params, call)                                \
type name params                                                        \
{                                                                       \
    struct shim_guard g;                                                \
    type volatile r = 0;                                                \
                                                                        \
    if ( GUARD_ENTER(g) )                                               \
        r = (call);                                                     \
    shim_guard_leave(&g);                                               \
                                                                        \
    return r;                                                           \
}

#define H_WRAP_VOID(name, params, call)                                 \
void name params                                                        \
{                                                                       \
    struct shim_guard g;                                                \
                                                                        \
    if ( GUARD_ENTER(g) )                                               \
        call;                                                           \
    shim_guard_leave(&g);                                               \
}

void shim_record(enum h_record_kind kind, const char *file, int line,
                 const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void shim_trap(enum h_record_kind kind, const char *file, int line,
               const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void shim_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void shim_report_reset(void);

extern unsigned long shim_counters[H_NR_COUNTERS];
/* Each CPU's (thread's): the locks it holds, and its number. */
extern __thread unsigned int shim_locks_held;
extern __thread unsigned int shim_cpu;

/* The lock of the simulated RAM and page tables (recursive). */
void shim_lock(void);
void shim_unlock(void);

/* This CPU holds no lock: another CPU may run here (h_preempt_at()). */
void shim_preempt_point(void);
/* The same point, where h_stress() may yield to another CPU. */
void shim_stress_point(void);

/* The fault handler: probes first, then guarded calls. */
void shim_signals_install(void);
void shim_signals_restore(void);

#endif /* SHIM_REPORT_H */
