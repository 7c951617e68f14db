"""What `gen bench` leaves behind: the plain-text table (printed, written
and kept for the cover letter by gen.benchcache), the raw numbers as JSON
and the PNG plots."""

from __future__ import annotations

from pathlib import Path

from gen.bench import SCAN_PATTERNS, UPSTREAM, Report, Result
from gen.benchcache import store, write_atomic


def patched(report: Report) -> list[str]:
    return [v for v in report.variants if v != UPSTREAM]

WIDTH = 72


def pct(held: int, floor: int) -> str:
    return f"{100 * (held - floor) / floor:+.0f}%" if floor else "-"


def totals(report: Report, variant: str, prefix: str = "") -> tuple[int, int]:
    """(held, floor) at the end, summed over the workloads named prefix*."""
    rows = [r for r in report.results if r.variant == variant and r.workload.startswith(prefix)]
    return sum(r.held_end for r in rows), sum(r.floor_end for r in rows)


def headline(report: Report) -> list[str]:
    out = []
    for v in patched(report):
        held, floor = totals(report, v)
        boot_held, boot_floor = totals(report, v, "boot-")
        adv = report.result(v, "2^k+1")
        out.append(f"{v}: {held} pages held for a floor of {floor} over all workloads "
                   f"({pct(held, floor)}); boot traces {pct(boot_held, boot_floor)}, "
                   f"2^k+1 pages {pct(adv.held_end, adv.floor_end)}.")
    return out


def wrap(text: str, indent: str = "") -> list[str]:
    lines, line = [], indent
    for word in text.split():
        if len(line) + len(word) + 1 > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    lines.append(line.rstrip())
    return lines


def pair(rows: list[Result], fmt: str, attr: str) -> str:
    return "/".join(format(getattr(r, attr), fmt) for r in rows)


def flushes(report: Report, names: list[str]) -> list[str]:
    """TLB flushes per xmalloc()/xfree(), each tree a column."""
    out = wrap("TLB flushes per xmalloc()/xfree(): flush_area() calls, as x86 "
               "Xen makes them, each one round of IPIs to every other CPU once "
               "they are up / of those, flushes of the whole TLB, global "
               "entries included.")
    out += [""]
    out.append(f"{'workload':<12}" + "".join(f"{v:>15}" for v in report.variants))
    for name in names:
        rows = [report.result(v, name) for v in report.variants]
        out.append(f"{name:<12}" + "".join(
            f"{f'{r.tlb_flushes_per_op:.2f}/{r.full_flushes_per_op:.2f}':>15}" for r in rows))
    return [*out, ""]


def per_guest(report: Report) -> list[str]:
    """The running host: what each guest created and destroyed costs, and
    the waste of 100 and 1000 guests at the measured rate."""
    if not report.guests:
        return []
    out = wrap("A running host, per guest created and destroyed (the guest traces: "
               "boot, then cycles of PV guests created, run and destroyed from dom0; "
               "their xmalloc()s and every other xenheap allocation replayed): "
               "xenheap pages at the peak of a cycle and, of those, waste beyond "
               "page rounding; vmap pages (a guard each); PTE writes; TLB flushes "
               "/ whole-TLB flushes.")
    out += [""]
    out.append(f"{'trace':<12}{'tree':<12}{'pages':>7}{'waste':>7}{'VA':>7}{'PTE':>7}"
               f"{'flushes':>13}")
    names = list(dict.fromkeys(g.workload for g in report.guests))
    for name in names:
        for k, v in enumerate(report.variants):
            g = next(g for g in report.guests if g.workload == name and g.variant == v)
            out.append(f"{name if k == 0 else '':<12}{v:<12}{g.held_per_guest:>7.1f}"
                       f"{g.waste_per_guest:>7.1f}{g.va_per_guest:>7.1f}"
                       f"{g.pte_writes_per_guest:>7.1f}"
                       f"{f'{g.tlb_flushes_per_guest:.1f}/{g.full_flushes_per_guest:.1f}':>13}")
    out += [""]
    upstream = sum(g.kept for g in report.guests if g.variant == UPSTREAM)
    for v in patched(report):
        rows = [g for g in report.guests if g.variant == v]
        worst = max(rows, key=lambda g: g.waste_per_guest)
        kept = sum(g.kept for g in rows)
        same = "as upstream" if kept == upstream else f"upstream {upstream}"
        out += wrap(f"{v}: at most {worst.waste_per_guest:.1f} pages wasted per guest "
                    f"({worst.workload}), so {kib(worst.waste_per_guest * 100)} for 100 "
                    f"guests and {kib(worst.waste_per_guest * 1000)} for 1000; over "
                    f"{sum(g.guests for g in rows)} guests, {kept} pages held after the "
                    f"last cycle beyond the first ({same}).", "  ")
    return [*out, ""]


def kib(pages: float) -> str:
    size = pages * 4
    return f"{size / 1024:.1f} MiB" if size >= 1024 else f"{size:.0f} KiB"


def table(report: Report) -> str:
    """The results as fixed-width text, at most WIDTH columns."""
    names = [n for n, _ in report.workloads]
    out = wrap(f"Measured with `python -m gen bench{' --quick' if report.quick else ''}` "
               f"on Xen {report.xen} (commit {report.baseline[:12]}): each tree's "
               f"real vmap.c, xmalloc_tlsf.c and xenheap code in the userspace harness, "
               f"upstream with the xenheap in the direct map, the variants with it on "
               f"vmap. Pages are 4 KiB.")
    out += [""]
    out += wrap("How much is wasted? Xenheap pages held by xmalloc()'s whole-page "
                "allocations, at the end / at the peak; floor: every size rounded up "
                "to whole pages.")
    out += [""]
    out.append(f"{'workload':<12}" + "".join(f"{c:>15}" for c in ("floor", *report.variants)))
    for name in names:
        first = report.result(report.variants[0], name)
        cells = [f"{first.floor_end}/{first.floor_peak}"]
        cells += [f"{r.held_end}/{r.held_peak}"
                  for r in (report.result(v, name) for v in report.variants)]
        out.append(f"{name:<12}" + "".join(f"{c:>15}" for c in cells))
    out += [""]
    for line in headline(report):
        out += wrap(line, "  ")
    out += [""]
    out += per_guest(report)
    variants = patched(report)
    out += wrap(f"vmap at the end, {'/'.join(variants)}: VA pages taken (one guard page "
                "each), free runs (2+ clear bits) and the largest; PTE writes per "
                "xmalloc()/xfree(). Upstream uses no vmap here.")
    out += [""]
    out.append(f"{'workload':<12}{'VA pages':>15}{'runs':>12}{'largest':>16}{'PTE/op':>13}")
    for name in names:
        rows = [report.result(v, name) for v in variants]
        out.append(f"{name:<12}{pair(rows, 'd', 'va_pages'):>15}"
                   f"{pair(rows, 'd', 'free_runs'):>12}"
                   f"{pair(rows, 'd', 'largest_free_run'):>16}"
                   f"{pair(rows, '.1f', 'pte_writes_per_op'):>13}")
    out += [""]
    out += flushes(report, names)
    out += wrap("vm_alloc() scan work for one more allocation after N live ones: "
                "find_next_bit()/find_next_zero_bit() calls and bitmap words read. "
                "Upstream's xmalloc() does no vm_alloc().")
    for p in SCAN_PATTERNS:
        out += wrap(f"{p.name}: {p.about}; the next takes {p.probe_pages} "
                    f"page{'s' if p.probe_pages > 1 else ''}.", indent="  ")
    out += [""]
    out.append(f"{'':>16}" + "".join(f"{v:>18}" for v in variants))
    out.append(f"{'pattern':<8}{'live':>8}" + f"{'calls':>10}{'words':>8}" * len(variants))
    for p in SCAN_PATTERNS:
        for live in sorted({s.live for s in report.scan if s.pattern == p.name}):
            cells = []
            for v in variants:
                pt = next(s for s in report.scan
                          if s.pattern == p.name and s.variant == v and s.live == live)
                cells.append(f"{pt.bitops_per_alloc:>10.0f}{pt.words_per_alloc:>8.0f}")
            out.append(f"{p.name:<8}{live:>8}" + "".join(cells))
    out += [""]
    out += wrap("virt_to_page() + page_to_virt(), time relative to the direct map's "
                "arithmetic, timed in the same run (harness: -O1, ASSERTs on):")
    out += [""]
    out.append(f"{'':<20}" + "".join(f"{v:>12}" for v in variants))
    conv = {c.variant: c for c in report.conv}
    out.append(f"{'vmapped pages':<20}"
               + "".join(f"{conv[v].vmap_ratio:>11.1f}x" for v in variants))
    out.append(f"{'direct-map pages':<20}"
               + "".join(f"{conv[v].direct_ratio:>11.1f}x" for v in variants))
    return "\n".join(out) + "\n"


def plot(report: Report, dest: Path) -> list[Path]:
    """waste.png (held / floor at the peak, per workload and tree) and
    scan.png (vm_alloc() work against live allocations)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in report.workloads]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(report.variants)
    for i, v in enumerate(report.variants):
        ratios = []
        for n in names:
            r = report.result(v, n)
            ratios.append(r.held_peak / r.floor_peak if r.floor_peak else 1.0)
        ax.bar([k + i * width for k in range(len(names))], ratios, width, label=v)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([k + width * (len(report.variants) - 1) / 2 for k in range(len(names))])
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("pages held / floor, at the peak")
    ax.set_title(f"xmalloc() whole-page waste by variant (Xen {report.xen})")
    ax.legend()
    fig.tight_layout()
    waste = dest / "waste.png"
    fig.savefig(waste, dpi=100, metadata={"Software": None})
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    # The variants share vm_alloc(), so one variant's curves say it all.
    first = patched(report)[0]
    for p, marker in zip(SCAN_PATTERNS, "osd", strict=True):
        pts = sorted((s for s in report.scan if s.variant == first and s.pattern == p.name),
                     key=lambda s: s.live)
        ax.plot([s.live for s in pts], [s.bitops_per_alloc for s in pts], marker=marker,
                label=f"{p.name}: bit searches")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("live allocations")
    ax.set_ylabel("work per vm_alloc()")
    ax.set_title(f"vm_alloc() scan cost against live allocations ({first})\n"
                 "(the variants share vm_alloc(); the table has both)")
    ax.legend()
    fig.tight_layout()
    scan = dest / "scan.png"
    fig.savefig(scan, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return [waste, scan]


def write(report: Report, dest: Path, plots: bool = True) -> list[Path]:
    """bench.json, bench.txt and (with plots) the plots in dest; the table
    also in the cache, for the cover letter of a series on the same
    baseline."""
    text = table(report)
    json_path, txt_path = dest / "bench.json", dest / "bench.txt"
    write_atomic(json_path, report.to_json())
    write_atomic(txt_path, text)
    pngs = plot(report, dest) if plots else []
    store(report.baseline, text, report.digests)
    return [txt_path, json_path, *pngs]
