"""The check report: what `gen check` proved, saved beside the series as
<variant>.check.json, shown as a table, and quoted by the cover letter of
a series generated afterwards from the same baseline."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path


def seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


@dataclass
class Step:
    name: str
    status: str = "not run"  # ok, failed, not run, n/a, skipped (on request)
    seconds: float = 0.0
    detail: str = ""
    quote: list[str] = field(default_factory=list)


@dataclass
class Report:
    variant: str
    series: str
    baseline: str
    steps: list[Step]
    builds: list[dict] = field(default_factory=list)
    boots: list[dict] = field(default_factory=list)
    # gitutil.series_digest() of what was applied: the series it proves.
    digest: str = ""

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing could not run; a step skipped on
        request is not a failure (see complete)."""
        return all(s.status in ("ok", "skipped") for s in self.steps)

    @property
    def complete(self) -> bool:
        """Every step ran and passed: the whole proof."""
        return all(s.status == "ok" for s in self.steps)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self) | {"ok": self.ok, "complete": self.complete},
                                   indent=2) + "\n")

    @staticmethod
    def load(path: Path) -> Report:
        data = json.loads(path.read_text())
        data.pop("ok")
        data.pop("complete", None)
        data["steps"] = [Step(**s) for s in data["steps"]]
        return Report(**data)


def summary(report: Report) -> str:
    lines = [f"{'step':<8} {'result':<8} {'time':>7}  detail"]
    for s in report.steps:
        time_ = seconds(s.seconds) if s.status not in ("not run",) else ""
        lines.append(f"{s.name:<8} {s.status:<8} {time_:>7}  {s.detail}")
        lines += [f"{'':<26}| {q}" for q in s.quote]
    if report.boots:
        lines.append("")
        lines.append(f"{'boot':<44} {'result':<8} {'time':>7}")
        for b in report.boots:
            said = b["guests"]["summary"] if b["ok"] and b.get("guests") else \
                "" if b["ok"] else b["reason"]
            lines.append(f"{b['name']:<44} {'pass' if b['ok'] else 'FAIL':<8} "
                         f"{seconds(b['seconds']):>7}  {said}")
    lines.append("")
    skipped = [s.name for s in report.steps if s.status == "skipped"]
    lines.append("FAIL" if not report.ok else
                 f"PASS (partial: {', '.join(skipped)} skipped)" if skipped else "PASS")
    return "\n".join(lines)


@dataclass(frozen=True)
class Tested:
    """What a passing check proved, for the cover letter."""

    per_patch: list[str]  # build configurations built after every patch
    at_last: list[str]  # configurations built only at the last patch
    common: list[str]  # cross configurations built after the patches they compile
    boots: list[str]  # the series' x86-64 boot configurations, all passing
    harness: str  # what the harness step ran, "" if it did not
    guests: str = ""  # the guest stage every x86-64 boot ran, "" if not every one
    cross_boots: list[str] = field(default_factory=list)  # other architectures' boots
    alone: list[str] = field(default_factory=list)  # configurations each patch built alone in


def tested(path: Path, digest: str) -> Tested | None:
    """The proof of a complete, passing report of exactly this series (its
    gitutil.series_digest()), if there is one."""
    if not path.is_file():
        return None
    report = Report.load(path)
    if not report.complete or report.digest != digest or not report.boots:
        return None
    built = {(b["point"], b.get("arch", "x86_64"), b["config"]) for b in report.builds
             if not b["point"].endswith(" alone")}
    alone = {(b.get("arch", "x86_64"), b["config"]) for b in report.builds
             if b["point"].endswith(" alone")}
    points = {p for p, _, _ in built if p != "control"}
    last = {p for p in points if p.split("/")[0] == p.split("/")[-1]}
    configs = sorted({(a, c) for _, a, c in built}, key=lambda k: (k[0] != "x86_64", k))
    at = {(a, c): {p for p, a2, c2 in built if (a2, c2) == (a, c) and p != "control"}
          for a, c in configs}
    name = {k: k[1] if k[0] == "x86_64" else f"{k[0]} {k[1]}" for k in configs}
    harness = next(s for s in report.steps if s.name == "harness")
    # The tally only: not where the log is, nor whether the run was reused.
    tally = re.match(r"\d+ passed(?:, \d+ [a-z]+)*", harness.detail)
    native = [b for b in report.boots if b.get("arch", "x86_64") == "x86_64"]
    plans = [b.get("guests", {}).get("plan") for b in native]
    guests = "" if not plans or None in plans or any(p != plans[0] for p in plans) else \
        f"{plans[0]['cycles']} cycles of {plans[0]['guests']} PV guests"
    return Tested([name[k] for k in configs if at[k] == points],
                  [name[k] for k in configs if at[k] == last],
                  [name[k] for k in configs if at[k] not in (points, last)],
                  [b["name"].removeprefix("series-") for b in native
                   if b["name"].startswith("series-")],
                  tally.group(0) if harness.status == "ok" and tally else "", guests,
                  [b["name"].removeprefix("series-") for b in report.boots
                   if b["name"].startswith("series-") and b not in native],
                  [name[k] for k in configs if k in alone])
