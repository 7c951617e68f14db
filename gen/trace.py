"""Record what a real Xen boot asks of xmalloc()'s whole-page path.

`gen bench --record` applies a temporary debug patch (templates/c/trace, our
code, never part of a series) to the baseline, builds a debug hypervisor
(frame pointers make the caller's caller printable) and boots it under QEMU
at several CPU counts and memory sizes.  Every whole-page allocation and
every whole-page free prints a GEN-TRACE line up to the dom0 marker; the
lines become a JSON trace that the benchmark replays.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from gen import baseline, boot, build, progress, splice, xentree
from gen.errors import GenError
from gen.render import Features, Renderer
from gen.series import Hook, Patch

TRACE_PATCH = Patch(
    slug="trace",
    subject="DEBUG: trace whole-page xmalloc() and xfree()",
    message="msg/trace.txt.j2",
    edits=(
        Hook(path="xen/common/xmalloc_tlsf.c", template="c/trace/xmalloc.c.j2",
             function="_xmalloc", match=r"^\s+return xmalloc_whole_pages\(", where="replace"),
        Hook(path="xen/common/xmalloc_tlsf.c", template="c/trace/xfree.c.j2",
             function="xfree", match=r"^\s+unsigned int i, order = get_order_from_pages",
             where="after"),
    ),
)

_ALLOC = re.compile(r"GEN-TRACE alloc (\d+) (\d+) (\S+) (\S+) < (\S+)")
_FREE = re.compile(r"GEN-TRACE free (\S+) (\d+)")


@dataclass(frozen=True)
class Point:
    smp: int
    memory: int  # MiB

    @property
    def name(self) -> str:
        return f"smp{self.smp}-mem{self.memory}"


@dataclass
class Trace:
    xen: str
    baseline: str
    origin: str
    smp: int
    memory: int
    command: str
    # ["alloc", size, align, pointer, caller] or ["free", pointer, pages]
    events: list[list]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> Trace:
        return Trace(**json.loads(path.read_text()))


def parse(log: str) -> list[list]:
    """GEN-TRACE lines up to the dom0 marker, in order."""
    events: list[list] = []
    for line in log.split(boot.MARKER, 1)[0].splitlines():
        if m := _ALLOC.search(line):
            events.append(["alloc", int(m.group(1)), int(m.group(2)), m.group(3),
                           f"{m.group(4)} < {m.group(5)}"])
        elif m := _FREE.search(line):
            events.append(["free", m.group(1), int(m.group(2))])
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
        dom0 = boot.dom0_assets(cache)
        for point in points:
            spec = boot.BootSpec(f"trace-{point.name}", res.binary, "", point.smp,
                                 point.memory, timeout)
            log = work / f"{point.name}.log"
            result = boot.boot(spec, dom0, log)
            if not result.ok:
                shutil.copy2(log, dest.parent / f"failed-{point.name}.log")
                raise GenError(f"trace boot {point.name} failed: {result.reason}")
            events = parse(log.read_text())
            trace = Trace(base.version_string, tree.baseline, tree.origin, point.smp,
                          point.memory, command, events)
            path = dest / f"xen-{base.version_string}-{point.name}.json"
            trace.save(path)
            allocs = sum(1 for e in events if e[0] == "alloc")
            progress.say(f"  {point.name}: {allocs} whole-page allocations, "
                         f"{len(events) - allocs} frees -> {path}")
            written.append(path)
    return written
