"""Record what a real Xen host asks of the xenheap.

`gen bench --record` applies a temporary debug patch (templates/c/trace, our
code, never part of a series) to the baseline, builds a debug hypervisor
(frame pointers make the caller's caller printable) and boots it under QEMU
at several CPU counts and memory sizes.  Every whole-page xmalloc() and its
xfree() prints a GEN-TRACE line, and so does every other call of
alloc_xenheap_pages() and free_xenheap_pages(); the lines become a JSON trace
that the benchmark replays.  A boot point keeps xmalloc()'s lines up to the
dom0 marker.  A guest point boots with the guest stage of `gen check` (its
toolstack, and guests of a given number of vCPUs) and keeps every line, with
marks where the guests start and where each cycle of them has gone.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from gen import baseline, boot, build, dom0, guests, progress, splice, toolstack, xentree
from gen.errors import GenError
from gen.render import Features, Renderer
from gen.series import Hook, Patch, Where

TRACE_PATCH = Patch(
    slug="trace",
    subject="DEBUG: trace whole-page xmalloc() and xfree()",
    message="msg/trace.txt.j2",
    edits=(
        Hook(path="xen/common/xmalloc_tlsf.c", template="c/trace/xmalloc.c.j2",
             function="_xmalloc", match=r"^\s+return xmalloc_whole_pages\(", where=Where.REPLACE),
        Hook(path="xen/common/xmalloc_tlsf.c", template="c/trace/xfree.c.j2",
             function="xfree", match=r"^\s+unsigned int i, order = get_order_from_pages",
             where=Where.AFTER),
        Hook(path="xen/common/page_alloc.c", template="c/trace/xheap-alloc.c.j2",
             function="alloc_xenheap_pages", cond="!CONFIG_SEPARATE_XENHEAP",
             match=r"^\s+return page_to_virt\(pg\);$", where=Where.BEFORE),
        Hook(path="xen/common/page_alloc.c", template="c/trace/xheap-free.c.j2",
             function="free_xenheap_pages", cond="!CONFIG_SEPARATE_XENHEAP",
             match=r"^\s+pg = virt_to_page\(v\);$", where=Where.BEFORE),
    ),
)
# Callers of alloc_xenheap_pages()/free_xenheap_pages() in xmalloc()'s
# whole-page path, whose calls the alloc and free lines already stand for.
WHOLE_PAGE_PATH = frozenset({"xmalloc_whole_pages", "_xmalloc", "_xzalloc", "_xrealloc",
                             "xfree"})

_ALLOC = re.compile(r"GEN-TRACE alloc (\d+) (\d+) (\S+) (\S+) < (\S+)")
_FREE = re.compile(r"GEN-TRACE free (\S+) (\d+)")
_XALLOC = re.compile(r"GEN-TRACE xheap-alloc (\d+) (\S+) < (\S+)")
_XFREE = re.compile(r"GEN-TRACE xheap-free (\S+) (\d+) < (\S+)")
_STARTED = re.compile(rf"{guests.PREFIX}: toolstack up")
_CYCLE = re.compile(rf"{guests.PREFIX}: cycle (\d+): ")


@dataclass(frozen=True)
class Point:
    smp: int
    memory: int  # MiB
    guests: int = 0  # per cycle; 0: a boot point
    cycles: int = 0
    vcpus: int = 0  # of each guest

    @property
    def name(self) -> str:
        name = f"smp{self.smp}-mem{self.memory}"
        if self.guests:
            name += f"-guests{self.guests}x{self.cycles}-vcpus{self.vcpus}"
        return name

    @property
    def plan(self) -> guests.Plan | None:
        # The bench counts what stays after the last cycle; the recording
        # boot does not judge it.
        return guests.Plan(self.guests, self.cycles, vcpus=self.vcpus, flat=False) \
            if self.guests else None


@dataclass
class Trace:
    xen: str
    baseline: str
    origin: str
    smp: int
    memory: int
    command: str
    # ["alloc", size, align, pointer, caller] or ["free", pointer, pages]; in
    # a guest trace also ["xheap-alloc", order, pointer, caller],
    # ["xheap-free", pointer, order, caller], ["mark", "guests"] where the
    # toolstack is up and ["mark", "cycle", n] where cycle n's guests are gone
    events: list[list]
    guests: int = 0
    cycles: int = 0
    vcpus: int = 0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> Trace:
        return Trace(**json.loads(path.read_text()))


def caller_name(caller: str) -> str:
    """The function of a %pS address: 'file.c#name+0x1/0x2' -> 'name'."""
    return caller.split("+", 1)[0].rpartition("#")[2]


def parse(log: str, guest_stage: bool = False) -> list[list]:
    """GEN-TRACE lines in order: xmalloc()'s up to the dom0 marker, or with
    guest_stage, every line and the guest stage's marks."""
    events: list[list] = []
    text = log if guest_stage else log.split(dom0.MARKER, 1)[0]
    for line in text.splitlines():
        if m := _ALLOC.search(line):
            events.append(["alloc", int(m.group(1)), int(m.group(2)), m.group(3),
                           f"{m.group(4)} < {m.group(5)}"])
        elif m := _FREE.search(line):
            events.append(["free", m.group(1), int(m.group(2))])
        elif not guest_stage:
            continue
        elif m := _XALLOC.search(line):
            if caller_name(m.group(3)) not in WHOLE_PAGE_PATH:
                events.append(["xheap-alloc", int(m.group(1)), m.group(2), m.group(3)])
        elif m := _XFREE.search(line):
            if caller_name(m.group(3)) not in WHOLE_PAGE_PATH:
                events.append(["xheap-free", m.group(1), int(m.group(2)), m.group(3)])
        elif _STARTED.search(line):
            events.append(["mark", "guests"])
        elif m := _CYCLE.search(line):
            events.append(["mark", "cycle", int(m.group(1))])
    return events


def record(xen: Path | None, points: list[Point], dest: Path, command: str,
           timeout: int = 300) -> list[Path]:
    """Boot the instrumented baseline at each point; write one trace each."""
    build.require_tools({**build.TOOLS, **boot.TOOLS})
    cache = xentree.cache_dir()
    written = []
    with xentree.opened(xen, progress=progress.say) as tree, \
            tempfile.TemporaryDirectory(prefix="gen-trace-") as tmp:
        work = Path(tmp)
        repo = xentree.checkout(tree, work / "xen", "trace")
        root = Path(repo.working_tree_dir or work)
        base = baseline.probe(root)
        renderer = Renderer({"feat": Features(base.features), "baseline": base})
        hunks = splice.apply_patch(root, TRACE_PATCH, renderer, base)
        splice.require_style(TRACE_PATCH, hunks)
        builder = build.Builder(root, work / "build", build.BuildConfig("debug", {"DEBUG": "y"}),
                                cache / "ccache")
        res = builder.build(work / "build.log", "build the instrumented baseline (debug)")
        if not res.ok or res.binary is None:
            raise GenError("the instrumented baseline does not build: "
                           + "; ".join(res.errors[:3]))
        tools = toolstack.for_tree(tree, root, cache, None) \
            if any(p.guests for p in points) else None
        for point in points:
            machine = dom0.assemble(cache, point.plan, tools if point.plan else None)
            spec = boot.BootSpec(f"trace-{point.name}", res.binary, "", point.smp,
                                 point.memory, timeout)
            log = work / f"{point.name}.log"
            result = boot.boot(spec, machine, log)
            if not result.ok:
                shutil.copy2(log, dest.parent / f"failed-{point.name}.log")
                raise GenError(f"trace boot {point.name} failed: {result.reason}")
            events = parse(log.read_text(), bool(point.guests))
            trace = Trace(base.version_string, tree.baseline, tree.origin, point.smp,
                          point.memory, command, events, point.guests, point.cycles,
                          point.vcpus)
            path = dest / f"xen-{base.version_string}-{point.name}.json"
            trace.save(path)
            count = Counter(e[0] for e in events)
            progress.say(f"  {point.name}: {count['alloc']} whole-page xmalloc()s and "
                         f"{count['free']} frees"
                         + (f", {count['xheap-alloc']} other xenheap allocations and "
                            f"{count['xheap-free']} frees" if point.guests else "")
                         + f" -> {path}")
            written.append(path)
    return written
