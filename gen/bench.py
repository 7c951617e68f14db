"""Measure what each variant costs: `python -m gen bench`.

Workloads (the recorded boot traces of bench/traces and seeded synthetic
mixes) are replayed through xmalloc() in the cffi harness, on a fresh
simulated machine each, for upstream (the unpatched baseline, xenheap in
the direct map) and for each variant's patched tree with the xenheap on
vmap.  The guest traces (a running host: boot, then cycles of guests
created and destroyed) are replayed through xmalloc() and the xenheap's
own alloc/free, and give what each guest costs.  Everything is counted by
the harness (pages, bitmap bits, PTE writes, TLB flushes, bit-search calls
and words), except the conversion cost, which is timed in C
(shim/bench.c) and reported as ratios taken in the same run.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen import baseline, harness, pipeline, xentree
from gen.errors import GenError
from gen.gitutil import series_digest
from gen.harness import Harness, XenTrap
from gen.sim import PAGE, WINDOW_PAGES, Sim
from gen.sim import RAM_PAGES as SIM_RAM_PAGES
from gen.variants import VARIANTS

UPSTREAM = "upstream"
# Twice the tests' RAM (gen.sim.RAM_PAGES): the largest synthetic mixes
# hold more; the vmap window is the tests' (the largest the shim has).
RAM_PAGES = 2 * SIM_RAM_PAGES
HOLE_EVERY = 10  # the swiss cheese frees one single-page allocation in ten
MAPS_SPARE = 10000  # host mappings the rest of the machine needs
DEFAULT_MAP_LIMIT = 65530
SEED = 20260101
SYNTHETIC_N = 2000  # allocations per synthetic workload (--quick: QUICK_N)
QUICK_N = 300


@dataclass(frozen=True)
class Op:
    """One call: xmalloc(size, align) of allocation `key`, or its xfree();
    with an order, alloc_xenheap_pages(order) or its free_xenheap_pages()."""

    alloc: bool
    key: int
    size: int = 0
    align: int = 0
    order: int | None = None


@dataclass(frozen=True)
class Workload:
    name: str
    about: str
    ops: tuple[Op, ...]
    # A guest trace: ops[marks[0]:] is the guest stage, and cycle n's
    # guests are gone by ops[marks[n]].
    marks: tuple[int, ...] = ()
    per_cycle: int = 0  # guests

    @property
    def allocs(self) -> int:
        return sum(op.alloc for op in self.ops)


@dataclass(frozen=True)
class GuestResult:
    """A guest trace on one tree: what each guest created and destroyed
    costs, from the guest stage's start on.  Pages are 4 KiB."""

    variant: str
    workload: str
    guests: int  # created and destroyed in all
    per_cycle: int
    held_per_guest: float  # xenheap pages at the peak of a cycle, per guest then alive
    waste_per_guest: float  # of those, pages beyond each request rounded up to pages
    va_per_guest: float  # vmap pages at the peak, one guard each, per guest alive
    pte_writes_per_guest: float
    tlb_flushes_per_guest: float
    full_flushes_per_guest: float
    kept: int  # pages held after the last cycle beyond those after the first


@dataclass(frozen=True)
class Result:
    """One workload on one tree.  Pages are 4 KiB; "held" counts the
    xenheap pages that xmalloc()'s whole-page allocations hold."""

    variant: str
    workload: str
    allocs: int
    frees: int
    requested_end: float  # bytes asked for by the live allocations, in pages
    floor_end: int  # sum of ceil(size / PAGE) over the live allocations
    held_end: int
    floor_peak: int
    held_peak: int
    va_pages: int  # vmap pages the allocations take, one guard page each
    free_runs: int  # runs of 2 or more clear bitmap bits (1 is a guard)
    largest_free_run: int
    pte_writes_per_op: float
    tlb_flushes_per_op: float  # flush_area() calls: IPI rounds on an SMP host
    full_flushes_per_op: float  # of those, whole-TLB (FLUSH_TLB_GLOBAL) flushes
    bitops_per_alloc: float
    words_per_alloc: float


@dataclass(frozen=True)
class ScanPattern:
    """How the scan curve fills the region before it counts the work of
    `probe_pages`-page allocations."""

    name: str
    about: str
    pages: int  # of each live allocation
    freed: int  # every freed-th allocation is freed (0: none)
    probe_pages: int
    va_bits: float  # vmap bits per live allocation, guards and holes included
    host_maps: float  # host mappings per live allocation, rounded up


SCAN_PATTERNS = (
    ScanPattern("swiss", "1-page allocations, one in ten freed (holes a 2-page allocation "
                "does not fit)", 1, HOLE_EVERY, 2, 2.23, 3),
    ScanPattern("aligned", "4-page allocations in a row, 4-page aligned as the xenheap "
                "aligns them", 4, 0, 4, 8, 2),
    ScanPattern("packed", "1-page allocations in a row", 1, 0, 1, 2, 2),
)


@dataclass(frozen=True)
class ScanPoint:
    """vm_alloc()'s work for one allocation after `live` allocations made
    in a pattern."""

    pattern: str
    variant: str
    live: int
    bitops_per_alloc: float
    words_per_alloc: float


@dataclass(frozen=True)
class ConvCost:
    """The tree's virt_to_page() + page_to_virt() against the direct map's
    arithmetic, timed side by side on the same machine."""

    variant: str
    vmap_ratio: float  # on vmapped xenheap pages
    direct_ratio: float  # on direct-map pages


@dataclass
class Report:
    xen: str
    baseline: str
    quick: bool
    variants: tuple[str, ...]
    workloads: list[tuple[str, str]]  # (name, about)
    results: list[Result] = field(default_factory=list)
    guests: list[GuestResult] = field(default_factory=list)
    scan: list[ScanPoint] = field(default_factory=list)
    conv: list[ConvCost] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # variant: its code's digest

    def result(self, variant: str, workload: str) -> Result:
        return next(r for r in self.results
                    if r.variant == variant and r.workload == workload)

    def to_json(self) -> str:
        def rows(items: list[Any]) -> list[dict[str, Any]]:
            return [dict(vars(i)) for i in items]

        return json.dumps({"xen": self.xen, "baseline": self.baseline, "quick": self.quick,
                           "variants": list(self.variants),
                           "workloads": [{"name": n, "about": a} for n, a in self.workloads],
                           "results": rows(self.results), "guests": rows(self.guests),
                           "scan": rows(self.scan),
                           "scan_patterns": [dict(vars(p)) for p in SCAN_PATTERNS],
                           "conv": rows(self.conv), "digests": self.digests},
                          indent=1) + "\n"


# Workloads.

def trace_workload(path: Path) -> Workload:
    """A recorded trace (see gen.trace.Trace): a boot's xmalloc()s, or a
    guest trace's every xenheap call with the guest stage's marks."""
    data = json.loads(path.read_text())
    ops, live, marks = [], {}, []
    for k, event in enumerate(data["events"]):
        kind = event[0]
        if kind == "alloc":
            live[event[3]] = (k, None)
            ops.append(Op(True, k, int(event[1]), int(event[2])))
        elif kind == "xheap-alloc":
            live[event[2]] = (k, int(event[1]))
            ops.append(Op(True, k, order=int(event[1])))
        elif kind == "mark":
            marks.append(len(ops))
        elif event[1] in live:
            key, order = live.pop(event[1])
            ops.append(Op(False, key, order=order))
    if data.get("guests"):
        return Workload(f"guests-{data['smp']}x{data['vcpus']}",
                        f"{data['cycles']} cycles of {data['guests']} PV guests of "
                        f"{data['vcpus']} vCPUs, {data['smp']} CPUs (Xen {data['xen']}, "
                        f"{path.name})", tuple(ops), tuple(marks), data["guests"])
    return Workload(f"boot-{data['smp']}x{data['memory']}",
                    f"boot to dom0, {data['smp']} CPUs, {data['memory']} MiB "
                    f"(Xen {data['xen']}, {path.name})", tuple(ops))


def churn(n: int, size: Callable[[random.Random], int], rng: random.Random,
          free_chance: float = 0.3) -> tuple[Op, ...]:
    """n allocations; after each, a random live one is freed with
    free_chance."""
    ops: list[Op] = []
    live: list[int] = []
    for k in range(n):
        ops.append(Op(True, k, size(rng)))
        live.append(k)
        if rng.random() < free_chance:
            ops.append(Op(False, live.pop(rng.randrange(len(live)))))
    return tuple(ops)


def lifetimes(n: int, rng: random.Random) -> tuple[Op, ...]:
    """One allocation in 8 lives to the end; the others are freed 1 to 4
    allocations later, so short-lived holes open between long-lived ones."""
    ops: list[Op] = []
    due: dict[int, list[int]] = {}
    for k in range(n):
        ops.append(Op(True, k, log_uniform(rng)))
        if rng.randrange(8):
            due.setdefault(k + rng.randint(1, 4), []).append(k)
        ops.extend(Op(False, key) for key in due.pop(k, []))
    return tuple(ops)


def pairs(n: int, size: Callable[[random.Random], int], rng: random.Random) -> tuple[Op, ...]:
    """n xmalloc()s, each freed at once, as a hypercall handler's buffer is."""
    return tuple(op for k in range(n) for op in (Op(True, k, size(rng)), Op(False, k)))


def log_uniform(rng: random.Random) -> int:
    return int(2 ** rng.uniform(12, 20))  # 4 KiB to 1 MiB


def synthetic(n: int) -> list[Workload]:
    def rng(name: str) -> random.Random:
        return random.Random(f"{SEED}-{name}")

    return [
        Workload("uniform", f"{n} sizes uniform in [4 KiB, 256 KiB], 30% freed",
                 churn(n, lambda r: r.randint(PAGE, 64 * PAGE), rng("uniform"))),
        Workload("log-uniform", f"{n} sizes log-uniform in [4 KiB, 1 MiB], 30% freed",
                 churn(n, log_uniform, rng("log-uniform"))),
        Workload("2^k+1", f"{n} sizes of 2^k+1 pages, k in 0..7, 30% freed",
                 churn(n, lambda r: (2 ** r.randint(0, 7) + 1) * PAGE, rng("2^k+1"))),
        Workload("hypercall", f"{n} xmalloc()s of 16 B to 2 KiB, each freed at once",
                 pairs(n, lambda r: r.randint(16, 2048), rng("hypercall"))),
        Workload("page-pairs", f"{n} xmalloc()s of 1 to 16 pages, each freed at once",
                 pairs(n, lambda r: r.randint(1, 16) * PAGE, rng("page-pairs"))),
        Workload("lifetimes", f"{n} log-uniform sizes, 1 in 8 long-lived, the rest "
                              f"freed 1 to 4 allocations later", lifetimes(n, rng("lifetimes"))),
    ]


def workloads(traces: Path, n: int) -> tuple[list[Workload], list[Workload]]:
    """The boot traces and synthetic mixes, and the guest traces."""
    found = [trace_workload(p) for p in sorted(traces.glob("*.json"))]
    if not found:
        raise GenError(f"no traces in {traces}",
                       hint="record them with 'python -m gen bench --record', or pass "
                            "--traces DIR")
    return [*(w for w in found if not w.marks), *synthetic(n)], [w for w in found if w.marks]


# The simulated machine (gen.sim), as the bench uses it.

def machine(h: Harness) -> Sim:
    """A fresh machine with the xenheap on vmap on a patched tree."""
    m = Sim(h, ram_pages=RAM_PAGES, window_pages=WINDOW_PAGES, xenheap_vmap=True)
    if "xenheap-track" in h.traits and not m.on_vmap:
        m.close()
        raise GenError("the xenheap did not go on vmap in the patched harness")
    return m


def xmalloc(m: Sim, size: int, align: int) -> int:
    va = m.addr(m.h.xmalloc(size, align))
    if not va:
        raise GenError(f"xmalloc({size}, {align}) failed in the harness",
                       hint="the workload outgrew the simulated RAM or vmap window")
    return va


def held_delta(m: Sim) -> int:
    """Pages xmalloc took from (+) or gave back to (-) the xenheap since
    the last look; a free that could not unmap keeps its pages."""
    return sum((1 << e.order) if e.alloc else -(1 << e.order)
               for e in m.xlog() if (e.va if e.alloc else not e.kept))


def bit_string(m: Sim) -> str:
    """The bitmap of the xenheap's vmap region (VMAP_XENHEAP, or upstream
    VMAP_DEFAULT) as 0/1 over [0, vm_end): bits at or above vm_top are
    clear, as the region beyond is unused."""
    bits = "".join(f"{b:08b}"[::-1] for b in m.xh.bitmap())
    return bits + "0" * (m.xh.vm_end - m.xh.vm_top)


def va_use(bits: str) -> int:
    """Allocated pages plus one guard each (allocations are runs of set bits)."""
    runs = [r for r in bits.split("0") if r]
    return sum(len(r) + 1 for r in runs)


def free_runs(bits: str) -> list[int]:
    return [len(r) for r in bits.split("1") if len(r) > 1]


# Measurements.

def replay(h: Harness, variant: str, w: Workload) -> Result:
    m = machine(h)
    try:
        base_va = va_use(bit_string(m))
        xenheap0 = int(h.ram_xenheap_pages())
        names = ("H_PTE_WRITES", "H_TLB_FLUSHES", "H_TLB_FLUSH_ALL", "H_BITOP_CALLS",
                 "H_BITMAP_WORDS")
        before = {n: m.counter(n) for n in names}
        live: dict[int, tuple[int, int]] = {}  # key -> (va, size)
        held = floor = held_peak = floor_peak = frees = 0
        for op in w.ops:
            dh, df = apply(m, op, live)
            held, floor, frees = held + dh, floor + df, frees + (not op.alloc)
            held_peak, floor_peak = max(held_peak, held), max(floor_peak, floor)
        if held != int(h.ram_xenheap_pages()) - xenheap0:
            raise GenError(f"{variant}/{w.name}: xmalloc's log and the frame table "
                           f"disagree on the xenheap pages held")
        bits = bit_string(m)
        runs = free_runs(bits)
        delta = {n: m.counter(n) - before[n] for n in names}
        ops, allocs = len(w.ops), w.allocs
        return Result(variant, w.name, allocs, frees,
                      round(sum(s for _, s in live.values()) / PAGE, 1), floor, held,
                      floor_peak, held_peak, va_use(bits) - base_va, len(runs),
                      max(runs, default=0), round(delta["H_PTE_WRITES"] / ops, 2),
                      round(delta["H_TLB_FLUSHES"] / ops, 2),
                      round(delta["H_TLB_FLUSH_ALL"] / ops, 2),
                      round(delta["H_BITOP_CALLS"] / allocs, 1),
                      round(delta["H_BITMAP_WORDS"] / allocs, 1))
    except XenTrap as e:
        raise GenError(f"{variant}/{w.name}: the harness trapped: {e}") from e
    finally:
        m.close()


def apply(m: Sim, op: Op, live: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """Run one op; the change in held and floor pages."""
    if op.order is None:
        if op.alloc:
            va = xmalloc(m, op.size, op.align)
            live[op.key] = (va, op.size)
            return held_delta(m), -(-op.size // PAGE)
        va, size = live.pop(op.key)
        m.h.xfree(m.ptr(va))
        return held_delta(m), (-size) // PAGE
    pages = 1 << op.order
    if op.alloc:
        va = m.addr(m.h.alloc_xenheap_pages(op.order, 0))
        if not va:
            raise GenError(f"alloc_xenheap_pages({op.order}) failed in the harness")
        live[op.key] = (va, pages * PAGE)
        return pages, pages
    va, _ = live.pop(op.key)
    m.h.free_xenheap_pages(m.ptr(va), op.order)
    return -pages, -pages


def replay_guests(h: Harness, variant: str, w: Workload) -> GuestResult:
    """The guest stage of a guest trace, after its boot: the peak of each
    cycle, and the PTE writes and flushes of all cycles, per guest."""
    m = machine(h)
    names = ("H_PTE_WRITES", "H_TLB_FLUSHES", "H_TLB_FLUSH_ALL")
    try:
        live: dict[int, tuple[int, int]] = {}
        held = floor = 0
        for op in w.ops[:w.marks[0]]:
            dh, df = apply(m, op, live)
            held, floor = held + dh, floor + df
        held0, waste0, va0 = held, held - floor, va_use(bit_string(m))
        before = {n: m.counter(n) for n in names}
        peak_held = peak_waste = peak_va = 0
        after: list[int] = []
        for k, op in enumerate(w.ops[w.marks[0]:], start=w.marks[0]):
            dh, df = apply(m, op, live)
            held, floor = held + dh, floor + df
            peak_held = max(peak_held, held - held0)
            peak_waste = max(peak_waste, held - floor - waste0)
            if op.alloc:
                peak_va = max(peak_va, va_use(bit_string(m)) - va0)
            if k + 1 in w.marks[1:]:
                after.append(held)
        cycles = len(w.marks) - 1
        total = w.per_cycle * cycles
        delta = {n: m.counter(n) - before[n] for n in names}
        return GuestResult(variant, w.name, total, w.per_cycle,
                           round(peak_held / w.per_cycle, 1),
                           round(peak_waste / w.per_cycle, 1),
                           round(peak_va / w.per_cycle, 1),
                           round(delta["H_PTE_WRITES"] / total, 1),
                           round(delta["H_TLB_FLUSHES"] / total, 1),
                           round(delta["H_TLB_FLUSH_ALL"] / total, 1),
                           after[-1] - after[0] if after else 0)
    except XenTrap as e:
        raise GenError(f"{variant}/{w.name}: the harness trapped: {e}") from e
    finally:
        m.close()


def scan_point(h: Harness, variant: str, pattern: ScanPattern, live: int,
               probes: int = 32) -> ScanPoint:
    """Make at least `live` allocations stay in `pattern`, then count the
    bit searches and bitmap words of `probes` allocations of the pattern's
    probe size."""
    m = machine(h)
    try:
        total = live + (-(-live // (pattern.freed - 1)) if pattern.freed else 0)
        vas = [xmalloc(m, pattern.pages * PAGE, 0) for _ in range(total)]
        gone = vas[::pattern.freed] if pattern.freed else []
        for va in gone:
            m.h.xfree(m.ptr(va))
        calls, words = m.counter("H_BITOP_CALLS"), m.counter("H_BITMAP_WORDS")
        for _ in range(probes):
            xmalloc(m, pattern.probe_pages * PAGE, 0)
        return ScanPoint(pattern.name, variant, total - len(gone),
                         round((m.counter("H_BITOP_CALLS") - calls) / probes, 1),
                         round((m.counter("H_BITMAP_WORDS") - words) / probes, 1))
    except XenTrap as e:
        raise GenError(f"{variant}: the harness trapped in the scan run: {e}") from e
    finally:
        m.close()


def conv_cost(h: Harness, variant: str, pages: int = 256, rounds: int = 1000,
              repeats: int = 25) -> ConvCost:
    """Best of `repeats` timings of each loop, as ratios to the arithmetic."""
    m = machine(h)
    try:
        vmapped = [xmalloc(m, PAGE, 0) for _ in range(pages)]
        start = int(h.layout(h.lib.H_DIRECTMAP_VIRT_START))
        direct = [start + int(h.alloc_domheap_pages(0)) * PAGE for _ in range(pages)]
        arrays = {"vmap": h.ffi.new("unsigned long[]", vmapped),
                  "direct": h.ffi.new("unsigned long[]", direct)}

        # Interleaved, best of each: another process taking the CPU for a
        # while slows all three loops, not one.
        times: dict[tuple[str, int], list[int]] = {k: [] for k in
                                                  (("direct", 1), ("vmap", 0), ("direct", 0))}
        for _ in range(repeats):
            for (which, arith), got in times.items():
                got.append(h.bench_conv(arrays[which], pages, rounds, arith))
        base = min(times["direct", 1])
        return ConvCost(variant, round(min(times["vmap", 0]) / base, 2),
                        round(min(times["direct", 0]) / base, 2))
    except XenTrap as e:
        raise GenError(f"{variant}: the harness trapped timing conversions: {e}") from e
    finally:
        m.close()


def run(harnesses: dict[str, Harness], report: Report, loads: list[Workload],
        guest_loads: list[Workload], curve: dict[ScanPattern, tuple[int, ...]],
        say: Callable[[str], None]) -> Report:
    """Every measurement on every tree; upstream first."""
    for variant, h in harnesses.items():
        say(f"{variant}: {len(loads)} workloads, {len(guest_loads)} guest traces")
        report.results.extend(replay(h, variant, w) for w in loads)
        report.guests.extend(replay_guests(h, variant, w) for w in guest_loads)
        if "xenheap-track" in h.traits:
            for pattern, points in curve.items():
                say(f"{variant}: scan work, {pattern.name}, {', '.join(map(str, points))} "
                    "live allocations")
                report.scan.extend(scan_point(h, variant, pattern, live) for live in points)
            report.conv.append(conv_cost(h, variant))
    return report


def host_map_limit() -> int:
    """Linux's vm.max_map_count: the most mappings a process may have."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return DEFAULT_MAP_LIMIT


def curve_points(quick: bool, say: Callable[[str], None]) -> dict[ScanPattern, tuple[int, ...]]:
    """Live allocations for each scan curve, 10^2 to 10^5, as far as the
    shim's 1 GiB vmap window holds them and the host lets the shim mirror
    them (each vmapped run and the guard beside it are two host mappings)."""
    wanted = (100, 300, 1000) if quick else (100, 300, 1000, 3000, 10000, 30000, 100000)
    limit = host_map_limit()
    curve = {}
    for p in SCAN_PATTERNS:
        fits = [n for n in wanted if p.va_bits * n < WINDOW_PAGES * 0.95]
        points = tuple(n for n in fits if p.host_maps * n + MAPS_SPARE <= limit)
        if points != tuple(fits):
            need = int(p.host_maps * fits[-1]) + MAPS_SPARE
            say(f"the {p.name} scan curve stops at {points[-1]} live allocations: "
                f"vm.max_map_count is {limit}; 'sysctl -w vm.max_map_count={need}' (as "
                f"root) lets it reach {fits[-1]}")
        curve[p] = points
    return curve


def measure(xen: Path | None, traces: Path, quick: bool,
            say: Callable[[str], None]) -> Report:
    """Build upstream and every variant from the tree, then measure all."""
    loads, guest_loads = workloads(traces, QUICK_N if quick else SYNTHETIC_N)
    with xentree.opened(xen, progress=say) as tree, \
            tempfile.TemporaryDirectory(prefix="gen-bench-") as tmp:
        scratch = Path(tmp)
        repo = xentree.checkout(tree, scratch / UPSTREAM, f"gen/{UPSTREAM}")
        roots = {UPSTREAM: Path(repo.working_tree_dir or scratch / UPSTREAM)}
        digests = {}
        for name, variant in VARIANTS.items():
            say(f"{name}: applying the series")
            built = pipeline.build(variant, tree, scratch / name,
                                   pipeline.PLACEHOLDER_AUTHOR, "@0 +0000")
            roots[name] = built.root
            digests[name] = series_digest(built.repo, tree.baseline, built.branch,
                                          messages=False)
        harnesses = {}
        for name, root in roots.items():
            say(f"{name}: building the harness")
            harnesses[name] = harness.build(root, VARIANTS.get(name), sanitize=False)
        report = Report(baseline.probe(roots[UPSTREAM]).version_string, tree.baseline,
                        quick, tuple(roots), [(w.name, w.about) for w in loads],
                        digests=digests)
        return run(harnesses, report, loads, guest_loads, curve_points(quick, say), say)
