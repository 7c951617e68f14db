"""`python -m gen sweep`: every release line as a baseline.

For each ref of a xen.git clone (by default the newest tag of every release
line from 4.17 on, and HEAD), the tree's features are compared with its
line's record (baseline.RECORDED); then, for each variant, `gen check` runs
up to the harness, or with --build up to the x86 debug build of the control
and the last patch, or with --boot up to that build's boots.  The result is
a table of ref x variant x step, and the same as JSON.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import git

from gen import baseline, check, guests, pipeline, progress
from gen.errors import GenError
from gen.report import Report, seconds
from gen.variants import VARIANTS

TAG = re.compile(r"RELEASE-(\d+)\.(\d+)\.(\d+)")
STEPS = ("gates", "apply", "harness", "build", "boot")


@dataclass
class Row:
    ref: str
    commit: str
    version: str
    features: str  # "pass", or how the tree differs from its line's record
    variant: str
    steps: dict[str, str] = field(default_factory=dict)  # "pass", "-", or why it failed
    seconds: float = 0.0
    report: str = ""  # the row's gen check report

    @property
    def ok(self) -> bool:
        return self.features == "pass" and all(v in ("pass", "-") for v in self.steps.values())


def _version(tag: str) -> tuple[int, ...]:
    m = TAG.fullmatch(tag)
    return tuple(map(int, m.groups())) if m else ()


def refs_of(repo: git.Repo, pattern: str | None) -> list[str]:
    """The refs to sweep, oldest first: the tags matching pattern (and HEAD
    if it does), or by default the newest tag of each line from 4.17 on and
    HEAD."""
    tags = sorted((t.name for t in repo.tags if _version(t.name)), key=_version)
    if pattern is not None:
        refs = [t for t in tags if fnmatch.fnmatchcase(t, pattern)]
        refs += ["HEAD"] if fnmatch.fnmatchcase("HEAD", pattern) else []
        if not refs:
            raise GenError(f"no tag of {repo.working_tree_dir} matches --refs {pattern!r}",
                           hint="tags are named like RELEASE-4.20.4; HEAD is the checkout")
        return refs
    newest: dict[tuple[int, ...], str] = {}
    for t in tags:
        if _version(t)[:2] >= baseline.MIN_VERSION:
            newest[_version(t)[:2]] = t
    return [*newest.values(), "HEAD"]


def features_verdict(base: baseline.Baseline) -> str:
    if base.line not in baseline.RECORDED:
        return f"no recorded features for line {base.line}"
    differ = baseline.differences(base, base.line)
    return f"differs from {base.line}'s record: {', '.join(differ)}" if differ else "pass"


def _cell(status: str, detail: str, quote: list[str]) -> str:
    if status == "ok":
        return "pass"
    if status == "failed":
        return (quote[0] if quote else detail.splitlines()[0] if detail else "failed").strip()
    return "-"


def sweep(clone: Path, refs: list[str], output: Path, last: str,
          jobs: int | None) -> list[Row]:
    repo = git.Repo(clone)
    rows = []
    for ref in refs:
        sha = repo.commit(ref).hexsha

        def read(rel: str, sha: str = sha) -> str:
            try:
                return repo.git.show(f"{sha}:{rel}")
            except git.GitCommandError:
                return ""

        base = baseline.probe_files(read, f"{clone} at {ref}")
        verdict = features_verdict(base)
        for name, variant in VARIANTS.items():
            progress.say(f"sweep: {ref} ({base.version_string}), {name}")
            out = output / ref
            req = pipeline.Request(variant=variant, xen=clone, base=sha, output=out,
                                   force=True, cc=False, record=False,
                                   command=f"python -m gen sweep (--base {ref})")
            matrix = check.Matrix(builds=("debug",), cmdlines=("",), control=False,
                                  arches=(check.NATIVE,), bisect=False, jobs=jobs, last=last,
                                  guests=guests.Plan() if last == "boot" else None)
            start = time.monotonic()
            report: Report = check.Ladder(req, matrix, regenerate=True).run()
            rows.append(Row(ref, sha, base.version_string, verdict, name,
                            {s.name: _cell(s.status, s.detail, s.quote) for s in report.steps},
                            round(time.monotonic() - start, 1),
                            str(out / f"{name}.check.json")))
    return rows


def table(rows: list[Row]) -> str:
    """The table, a failed cell shown as FAIL(n) with its first error line
    as note n below."""
    head = ["ref", "version", "features", "variant", *STEPS, "time"]
    notes: list[str] = []

    def cell(value: str, row: Row, what: str) -> str:
        if value in ("pass", "-"):
            return value
        notes.append(f"({len(notes) + 1}) {row.ref} {row.variant} {what}: {value}")
        return f"FAIL({len(notes)})"

    body = [[r.ref, r.version, cell(r.features, r, "features"), r.variant,
             *(cell(r.steps.get(s, "-"), r, s) for s in STEPS), seconds(r.seconds)]
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(f"{x:<{w}}" for x, w in zip(line, widths, strict=True)).rstrip()
             for line in (head, *body)]
    verdict = "PASS" if all(r.ok for r in rows) else "FAIL"
    return "\n".join([*lines, *(["", *notes] if notes else []), "", verdict]) + "\n"


def write(rows: list[Row], output: Path) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    js, txt = output / "sweep.json", output / "sweep.txt"
    js.write_text(json.dumps({"ok": all(r.ok for r in rows),
                              "rows": [asdict(r) | {"ok": r.ok} for r in rows]},
                             indent=2) + "\n")
    txt.write_text(table(rows))
    return js, txt
