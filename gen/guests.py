"""The guest stage of a boot: dom0 cycles PV guests, and the log says how.

After the dom0 marker, dom0 starts the toolstack and runs `cycles` cycles:
it creates `guests` PV guests, waits until each one's userspace reports in
on its console, shuts all but the last down cleanly, destroys the last, and
checks that none is left.  Before the first cycle and after each one it
reads Xen's debug key 'm' (memory info) back through the console ring.
Everything dom0 finds is a GEN-GUESTS line on the serial log; this module
reads those lines and decides.  The leak check is here, not in dom0: every
counter after the last cycle must equal its value after the cycle before.
A leak shows in every cycle; Xen warming up does not, but it may take more
than the first cycle (plain 4.17.5 took 4 kB more in the second cycle in
2 of about 60 boots of `gen check`), hence 3 cycles by default.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

PREFIX = "GEN-GUESTS"
GUEST_MARKER = "GEN-GUEST-UP"
# Xen's memory-info lines that the leak check compares: the free heaps
# (pagealloc_info(), debug key 'm') and, with the series, the xenheap on
# vmap's own counters.
_HEAP = re.compile(rf"{PREFIX}: heap (\d+): .*?(?:\(XEN\) )?\s*(Xen heap|Dom heap): (\d+)kB free")
_VMAP = re.compile(rf"{PREFIX}: heap (\d+): .*?Xenheap on vmap: (\d+) pages in (\d+) "
                   r"allocations, VA (\d+) pages")
_CYCLE = re.compile(rf"{PREFIX}: cycle (\d+): .*create (\S+) s, up (\S+) s, gone (\S+) s")
_FAIL = re.compile(rf"{PREFIX}: FAIL (.*)")
_TOOLSTACK = re.compile(rf"{PREFIX}: toolstack up in (\S+) s")


@dataclass(frozen=True)
class Plan:
    """What the guest stage runs in one boot."""

    guests: int = 3
    cycles: int = 3
    memory: int = 128  # MiB per guest
    vcpus: int = 1
    timeout: int = 120  # seconds for one guest to report in
    # Whether the counters must be flat over the last cycle.  With guests
    # of 4 vCPUs, plain 4.17.5 takes 12 kB more in the second cycle, once.
    flat: bool = True

    def __post_init__(self) -> None:
        if self.guests < 1 or self.cycles < 1 or self.vcpus < 1 or self.memory < 32:
            raise ValueError(f"bad guest plan {self}")


@dataclass
class Cycle:
    number: int
    create: float  # seconds from the cycle's start: all guests created,
    up: float  # every guest's userspace reported in,
    gone: float  # every guest shut down or destroyed


@dataclass
class Outcome:
    """What one boot's guest stage did, read from its serial log."""

    toolstack: float | None = None
    cycles: list[Cycle] = field(default_factory=list)
    # counter name -> value, per reading (0 = before the first cycle)
    heap: dict[int, dict[str, int]] = field(default_factory=dict)
    failure: str | None = None
    done: bool = False

    def counters(self) -> list[str]:
        return sorted({k for values in self.heap.values() for k in values})


def parse(text: str) -> Outcome:
    out = Outcome()
    for line in text.splitlines():
        if m := _TOOLSTACK.search(line):
            out.toolstack = float(m.group(1))
        elif m := _CYCLE.search(line):
            out.cycles.append(Cycle(int(m.group(1)), float(m.group(2)), float(m.group(3)),
                                    float(m.group(4))))
        elif m := _HEAP.search(line):
            out.heap.setdefault(int(m.group(1)), {})[f"{m.group(2)} free kB"] = int(m.group(3))
        elif m := _VMAP.search(line):
            values = out.heap.setdefault(int(m.group(1)), {})
            for name, v in zip(("xenheap-vmap pages", "xenheap-vmap allocations",
                                "xenheap-vmap VA pages"),
                               m.groups()[1:], strict=True):
                values[name] = int(v)
        elif m := _FAIL.search(line):
            out.failure = out.failure or m.group(1).strip()
        elif f"{PREFIX}: done" in line:
            out.done = True
    return out


def leaks(out: Outcome) -> list[str]:
    """Counters whose value after the last cycle differs from that after
    the cycle before: each as 'name: a -> b after cycle n'."""
    last = max(out.heap, default=0)
    if last < 2:
        return []
    before, after = out.heap.get(last - 1, {}), out.heap[last]
    return [f"{name}: {before[name]} -> {value} after cycle {last}"
            for name, value in after.items() if name in before and value != before[name]]


def judge(plan: Plan, text: str) -> str:
    """Why the guest stage failed, or "" when it passed."""
    out = parse(text)
    if out.failure:
        return f"guests: {out.failure}"
    if not out.done or len(out.cycles) != plan.cycles:
        return f"guests: {len(out.cycles)} of {plan.cycles} cycles finished"
    for n in range(plan.cycles + 1):
        if not out.heap.get(n):
            return f"guests: no memory counters read at reading {n}"
    if plan.cycles > 1 and plan.flat:
        if set(out.heap[plan.cycles]) != set(out.heap[plan.cycles - 1]):
            return "guests: the memory counters differ in kind from cycle to cycle"
        found = leaks(out)
        if found:
            return "guests: leak: " + "; ".join(found)
    return ""


def summary(plan: Plan, text: str) -> str:
    """One line for the report: cycles, per-cycle time, the counters."""
    out = parse(text)
    times = ", ".join(f"{c.gone:.0f}" for c in out.cycles)
    flat = "not compared (one cycle)" if plan.cycles == 1 else \
        "flat over the last cycle" if not leaks(out) else \
        "moved (not compared)" if not plan.flat else "moved"
    return (f"{len(out.cycles)}x{plan.guests} guests in {times} s per cycle; "
            f"{len(out.counters())} counters {flat}")


def record(plan: Plan, text: str) -> dict:
    """What the report keeps of one boot's guest stage."""
    out = parse(text)
    return {"plan": asdict(plan), "summary": summary(plan, text),
            "toolstack_seconds": out.toolstack,
            "cycles": [asdict(c) for c in out.cycles],
            "counters": {str(k): v for k, v in sorted(out.heap.items())}}
