"""Several CPUs at once (c/shim/stress.c): the tree's xenheap and xmalloc()
on host threads with the shim's real spinlocks and x86's barriers, each
CPU allocating, writing, checking and freeing at random, and yielding at
some of the points where it drops its last lock.  Every allocation must
convert both ways and keep what its owner wrote until its owner frees it,
with no WARN, ASSERT or BUG.  test_mutations.py has the mutant that this
must catch: the free path's v1 order, untrack after the range went back.

ThreadSanitizer does not run here: it refuses the shim's mapping of the
simulated Xen at its fixed host address ("mmap at bad address")."""

from __future__ import annotations

import pytest

from gen.sim import Sim

ITERS = 20000  # per CPU and round
YIELD_EVERY = 2  # a yield at one in two of the points


def stress(s: Sim, cpus: int, seed: int) -> tuple[int, int]:
    """(CPUs that failed, operations done) of one round."""
    ops = s.ffi.new("unsigned long *")
    failed = s.h.stress(cpus, ITERS, seed, YIELD_EVERY, ops)
    return int(failed), int(ops[0])


@pytest.mark.parametrize("cpus", [2, 4])
def test_cpus_at_once_keep_every_allocation_whole(xsim, cpus):
    """Ten rounds on every tree: the control's xenheap in the direct map,
    the series' on vmap."""
    for seed in range(1, 11):
        failed, ops = stress(xsim, cpus, seed)
        assert (failed, xsim.records()) == (0, []), f"round {seed}"
        assert ops == cpus * ITERS
    assert xsim.h.locks_held() == 0
