/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Real faults, caught.  The Xen windows are host memory whose protection
 * mirrors the simulated page tables, so touching a guard page raises a
 * real SIGSEGV.  A probe turns that into a return value; inside a guarded
 * call it becomes an H_FAULT record and a trap; anywhere else the previous
 * handler (Python's faulthandler, say) gets the fault as if we were not
 * here.
 */
#include <signal.h>
#include <string.h>

#include "report.h"

static struct sigaction old_segv, old_bus;
static sigjmp_buf *volatile probe_env;
static volatile unsigned long fault_addr;
static int installed;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    fault_addr = (unsigned long)si->si_addr;

    if ( probe_env )
        siglongjmp(*probe_env, 1);

    if ( shim_guard_active() )
        shim_trap(H_FAULT, "<fault>", 0, "%s at %#lx",
                  sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", fault_addr);

    /* Not ours: restore the previous handler; the access faults again. */
    sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
}

void shim_signals_install(void)
{
    struct sigaction sa;

    if ( installed )
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    installed = 1;
}

void shim_signals_restore(void)
{
    if ( !installed )
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    installed = 0;
}

/*
 * Byte by byte through volatile pointers, so that the access really
 * happens here (not in a library routine) and stops at the first fault.
 */
int h_probe_read(const void *va, unsigned long len, void *out)
{
    sigjmp_buf env;
    const volatile unsigned char *src = va;
    unsigned char *dst = out;
    unsigned long i;

    if ( sigsetjmp(env, 1) )
    {
        probe_env = NULL;
        return -1;
    }
    probe_env = &env;
    for ( i = 0; i < len; i++ )
        dst[i] = src[i];
    probe_env = NULL;

    return 0;
}

int h_probe_write(void *va, unsigned long len, unsigned int byte)
{
    sigjmp_buf env;
    volatile unsigned char *dst = va;
    unsigned long i;

    if ( sigsetjmp(env, 1) )
    {
        probe_env = NULL;
        return -1;
    }
    probe_env = &env;
    for ( i = 0; i < len; i++ )
        dst[i] = byte;
    probe_env = NULL;

    return 0;
}

unsigned long h_fault_addr(void)
{
    return fault_addr;
}
