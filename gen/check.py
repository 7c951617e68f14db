"""The validation ladder, cheapest step first, stopping at the first failure:

1. gates   render, CODING_STYLE, pycparser syntax, commit-message rules
2. apply   git am of the files in out/<variant>/ onto a fresh baseline
3. harness the cffi harness tests against the patched sources
4. build   the unpatched baseline (the control), then every patch, in each
           build configuration, incrementally
5. boot    the control, then the series, under QEMU with a PV dom0, across
           the boot matrix

A JSON report and all logs go beside the series: out/<variant>.check.json
and out/<variant>.check/.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import git

from gen import (
    baseline,
    boot,
    build,
    dom0,
    gitutil,
    guests,
    pipeline,
    progress,
    publish,
    toolstack,
    xentree,
)
from gen.errors import GenError
from gen.report import Report, Step, seconds
from gen.series import Variant


@dataclass(frozen=True)
class Matrix:
    """What to build and boot.  The first build configuration is built
    after every patch (bisectability); the others at the control and at the
    last patch.  Every configuration is booted with every command line."""

    builds: tuple[str, ...] = ("debug", "release")
    cmdlines: tuple[str, ...] = ("", "xpti=true")
    smp: int = 2
    memory: int = 2048
    timeout: int = 360
    control: bool = True
    jobs: int | None = None
    harness: bool = True  # run the harness step
    bisect: bool = True  # build the first configuration after every patch
    guests: guests.Plan | None = field(default_factory=guests.Plan)  # in every boot
    fresh_boots: bool = False  # boot even what passed before with the same inputs
    last: str = "boot"  # the last step to run (gen sweep stops earlier)
    # Cross builds: at the control, after each patch that the architecture
    # compiles, and at the last patch.
    arches: tuple[str, ...] = ("x86_64", "arm64")


REPO = Path(__file__).resolve().parent.parent
BUILD_OPTIONS = {"debug": {"DEBUG": "y"}, "release": {"DEBUG": "n"}}
NATIVE = "x86_64"  # what the ladder boots


class Failed(Exception):
    """A step failed; its Step holds the details."""


class Ladder:
    def __init__(self, req: pipeline.Request, matrix: Matrix, regenerate: bool) -> None:
        self.req, self.matrix, self.regenerate = req, matrix, regenerate
        self.variant: Variant = req.variant
        self.dest = req.dest.resolve()
        self.logs = req.output.resolve() / f"{self.variant.name}.check"
        self.cache = xentree.cache_dir()
        self.gated: str | None = None  # the code digest of the gated series, if not generated
        self.steps = {n: Step(n) for n in ("gates", "apply", "harness", "build", "boot")}
        self.report = Report(self.variant.name, str(self.dest), "", list(self.steps.values()))

    # -- the steps ---------------------------------------------------------

    def gates(self) -> None:
        if self.regenerate or not self.dest.exists():
            # generate() gates what it writes: apply() takes these files as
            # they are.
            files = pipeline.generate(pipeline.Request(**{**vars(self.req), "force": True}))
            self.gated = None
            self.steps["gates"].detail = f"generated {len(files) - 1} patches into {self.dest}"
        else:
            # The series as the templates render it now, through every
            # gate; apply() holds the files in dest to its code.
            with tempfile.TemporaryDirectory(prefix="gen-gates-") as tmp:
                built = pipeline.build(self.variant, self.tree, Path(tmp),
                                       pipeline.PLACEHOLDER_AUTHOR, "@0 +0000")
                self.gated = gitutil.series_digest(built.repo, self.tree.baseline,
                                                   built.branch, messages=False)
            self.steps["gates"].detail = (f"{len(built.patches)} patches render clean; "
                                          f"checking the existing {self.dest}")
        cover, _ = publish.series_files(self.dest, self.req.reroll)
        if not cover.is_file():
            raise GenError(f"{self.dest} has no {cover.name}",
                           hint="pass the same -v as when generating, or --regenerate")
        m = re.search(r"^base-commit: ([0-9a-f]{40})$", cover.read_text(), re.M)
        if not m or m.group(1) != self.tree.baseline:
            raise GenError(f"{self.dest} was generated from another baseline "
                           f"({m.group(1)[:12] if m else 'unknown'}, tree is at "
                           f"{self.tree.baseline[:12]})", hint="pass --regenerate")

    def apply(self) -> None:
        _, patches = publish.series_files(self.dest, self.req.reroll)
        self.repo = xentree.checkout(self.tree, self.work / "xen", "check")
        # The prerequisite series as it would be generated on its own, as a
        # maintainer would apply it first; the cover letter's
        # prerequisite-patch-ids are held to it below.
        start = pipeline.commit_prerequisite(
            self.variant, baseline.probe(Path(self.repo.working_tree_dir or "")), self.repo,
            pipeline.PLACEHOLDER_AUTHOR, "@0 +0000")
        self._require_prerequisite(start)
        try:
            # Whitespace errors fail here, as they would in a maintainer's
            # git am with apply.whitespace=error.
            self.repo.git.am("-q", "--no-3way", "--whitespace=error-all", *map(str, patches),
                             env={**gitutil.isolated_env(), "GIT_COMMITTER_NAME": "gen check",
                                  "GIT_COMMITTER_EMAIL": ""})
        except git.GitCommandError as e:
            out = f"{e.stdout}\n{e.stderr}"
            which = re.search(r"Patch failed at (\d+) (.*)", out)
            hunk = re.search(r"error: patch failed: (\S+)", out)
            step = self.steps["apply"]
            space = re.findall(r"^\S*patch:\d+: .*$", out, re.M)
            if which:
                why = (f": hunk at {hunk.group(1)}" if hunk else
                       ": it adds whitespace errors" if space else "")
                step.detail = (f"patch {int(which.group(1))} '{which.group(2)}' does not "
                               f"apply{why}")
                step.quote = space + [ln for ln in out.splitlines() if ln.startswith("error:")]
            else:
                step.detail = "git am failed"
                step.quote = [ln for ln in out.splitlines() if ln.strip()][-10:]
            raise Failed from e
        self.commits = self.repo.git.rev_list("--reverse", f"{start}..HEAD").split()
        self.subjects = [self.repo.commit(c).summary for c in self.commits]
        self.report.digest = gitutil.series_digest(self.repo, self.tree.baseline)
        step = self.steps["apply"]
        if self.gated is not None and \
                gitutil.series_digest(self.repo, self.tree.baseline, messages=False) != self.gated:
            step.detail = (f"the patches in {self.dest} are not the code that the gates "
                           f"passed: edited by hand, or generated by another version of gen "
                           f"or from other templates (--regenerate makes them afresh)")
            raise Failed
        for c in self.commits:
            subject, _, body = str(self.repo.commit(c).message).partition("\n")
            paragraphs = body.strip("\n").split("\n\n")
            if all(re.match(r"[A-Za-z][\w-]*: ", ln) for ln in paragraphs[-1].splitlines()):
                paragraphs.pop()  # the trailers, which are the user's
            problems = publish.message_problems(subject, "\n\n".join(paragraphs))
            if problems:
                step.detail = f"commit message of '{subject}': " + "; ".join(problems)
                raise Failed
        on = self.tree.baseline[:12]
        if self.variant.prerequisite:
            n = len(self.repo.git.rev_list(f"{self.tree.baseline}..{start}").split())
            on = f"the {n} patches of the {self.variant.prerequisite.name} series on {on}"
        self.steps["apply"].detail = f"git am: {len(self.commits)} patches onto {on}"

    def _require_prerequisite(self, start: str) -> None:
        """The cover letter's prerequisite-patch-ids are the patches that
        the prerequisite series has now, in order."""
        cover, _ = publish.series_files(self.dest, self.req.reroll)
        named = re.findall(r"^prerequisite-patch-id: ([0-9a-f]{40})$", cover.read_text(), re.M)
        ids = gitutil.patch_ids(self.repo, self.tree.baseline, start)
        have = [ids[c] for c in self.repo.git.rev_list("--reverse",
                                                       f"{self.tree.baseline}..{start}").split()]
        if named != have:
            pre = self.variant.prerequisite
            self.steps["apply"].detail = (
                f"{cover.name} names {len(named)} prerequisite patches, but the "
                f"{pre.name if pre else 'no'} series it applies on top of has {len(have)}"
                f"{' others' if len(named) == len(have) else ''} (--regenerate makes the "
                f"series afresh)")
            raise Failed

    def harness(self) -> None:
        """The harness suite against the tree git am produced: the real,
        patched C on the userspace model of x86-64 paging."""
        step = self.steps["harness"]
        if not self.matrix.harness:
            step.status, step.detail = "skipped", "--no-harness"
            return
        suite = REPO / "tests" / "harness"
        if not suite.is_dir():
            step.status, step.detail = "n/a", f"no harness tests at {suite}"
            return
        env = {**os.environ, "GEN_HARNESS_TREE": str(self.repo.working_tree_dir),
               "GEN_HARNESS_VARIANT": self.variant.name}
        log = self.logs / "harness.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        passed = self.cache / "check" / "harness-passed" / f"{self._harness_key(env)}.log"
        if passed.is_file():
            # The same suite passed on the same series with the same tool:
            # its result stands, and its log is copied as the run's own.
            shutil.copyfile(passed, log)
            tally = re.findall(r"^=* ?(\d+ passed.*?) in ", log.read_text(), re.M)
            step.detail = (f"{tally[-1] if tally else 'passed'}, by an identical earlier run "
                           f"(same series, suite, shim and tool); log: {log}")
            return
        with progress.running("harness tests"), log.open("w") as out:
            res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  str(suite)], cwd=REPO, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, check=False)
        text = log.read_text(errors="replace")
        tally = re.findall(r"^=* ?(\d+ (?:passed|failed|error|errors|skipped).*?) in ", text,
                           re.M)
        step.detail = (tally[-1] if tally else "no result") + f"; log: {log}"
        if not res.returncode:
            passed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, passed)
        if res.returncode:
            step.quote = [ln for ln in text.splitlines()
                          if ln.startswith(("FAILED", "ERROR", "E "))][:20]
            raise Failed

    def _harness_key(self, env: dict[str, str]) -> str:
        """What decides the harness step's result: the series (its digest
        names the tool version too), the baseline, this repository's code,
        shim and tests, the toolchain, and the harness's environment."""
        h = hashlib.sha256(f"{self.variant.name}\0{self.report.digest}\0"
                           f"{self.tree.baseline}\0{sys.version}\0".encode())
        files = [REPO / "pyproject.toml", REPO / "tests" / "conftest.py",
                 *sorted((REPO / "gen").rglob("*.py")), *sorted((REPO / "c").rglob("*.[ch]")),
                 *sorted((REPO / "tests" / "harness").rglob("*.py"))]
        for f in files:
            h.update(f"{f.relative_to(REPO)}\0".encode() + f.read_bytes())
        cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False)
        h.update(cc.stdout.encode())
        for k in sorted(k for k in env if k.startswith(("GEN_HARNESS", "HYPOTHESIS"))):
            h.update(f"{k}={env[k]}\0".encode())
        return h.hexdigest()[:24]

    def build(self) -> None:
        src = Path(self.repo.working_tree_dir or "")
        kept = self.cache / "check" / "builds"
        build.prune(kept)
        bisect = self.matrix.builds[0]
        self.builders = {
            (arch, name): build.Builder(
                src, self.work / f"build-{name}{'' if arch == NATIVE else '-' + arch}",
                build.BuildConfig(name, {**BUILD_OPTIONS[name],
                                         **{o: "y" for o in self.variant.kconfig(arch)}},
                                  build.ARCHES[arch]),
                self.cache / "ccache", self.matrix.jobs, kept)
            for arch in self.matrix.arches for name in self.matrix.builds}
        step = self.steps["build"]
        self.control_binaries: dict[tuple[str, str], Path] = {}
        self.series_binaries: dict[tuple[str, str], Path] = {}
        points = [("control", self.tree.baseline, "the unpatched baseline")]
        points += [(f"{k}/{len(self.commits)}", c, s)
                   for k, (c, s) in enumerate(zip(self.commits, self.subjects, strict=True),
                                              start=1)]
        # Per foreign architecture, the patches built in the bisect config:
        # those that touch a file outside every other architecture's own
        # directory, and the last.
        built = {arch: 0 for arch in self.matrix.arches}
        for n, (label, commit, subject) in enumerate(points):
            ends = n in (0, len(points) - 1)
            if not ends and not self.matrix.bisect:
                continue
            files = self.repo.git.diff_tree("--no-commit-id", "--name-only", "-r",
                                            commit).split() if n else []
            self.repo.git.checkout("-q", "--detach", commit)
            for (arch, name), builder in self.builders.items():
                compiles = not all(build.ARCHES[arch].foreign(f) for f in files)
                if not ends and (name != bisect or (arch != NATIVE and not compiles)):
                    continue
                if n and name == bisect:
                    built[arch] += 1
                res = self._build_at(builder, label, commit, subject,
                                     self.repo.commit(commit).tree.hexsha)
                if ends:  # the binaries that boot
                    boots = self.control_binaries if label == "control" else \
                        self.series_binaries
                    tag = name if arch == NATIVE else f"{name}-{arch}"
                    boots[arch, name] = self._keep(
                        res.binary, f"xen-{label.replace('/', 'of')}-{tag}")
        alone = self._build_alone(bisect) if self.variant.independent and \
            self.matrix.bisect else ""
        others = [b for b in self.matrix.builds if b != bisect]
        reused = sum(b["reused"] for b in self.report.builds)
        reuse = (f"; {reused} of {len(self.report.builds)} reused from identical source "
                 f"trees built before" if reused else "")
        if not self.matrix.bisect:
            step.detail = (f"control and the last of {len(self.commits)} patches in "
                           f"{', '.join(self.matrix.builds)} for "
                           f"{', '.join(self.matrix.arches)} (--no-bisect)" + reuse)
            return
        also = f"; control and last patch in {', '.join(others)}" if others else ""
        parts = []
        for arch in self.matrix.arches:
            if arch == NATIVE:
                parts.append(f"control and {len(self.commits)} patches in {bisect}{also}")
            else:
                parts.append(f"{arch}: control and {built[arch]} of {len(self.commits)} "
                             f"patches (those that touch common or {arch} code, and the "
                             f"last) in {bisect}{also}")
        step.detail = "; ".join(parts) + alone + reuse

    def _build_at(self, builder: build.Builder, label: str, commit: str, subject: str,
                  tree: str) -> build.BuildResult:
        """Build the checkout as it is, `tree` being its source tree's id;
        record it, and fail the step, naming the patch, if it fails."""
        arch, name = builder.config.arch.name, builder.config.name
        tag = name if arch == NATIVE else f"{name}-{arch}"
        log = self.logs / "build" / f"{label.replace('/', 'of').replace(' ', '-')}-{tag}.log"
        res = builder.build(log, f"build {label} ({builder.label})", tree)
        self.report.builds.append({"point": label, "commit": commit, "tree": tree,
                                   "config": name, "arch": arch, "ok": res.ok,
                                   "seconds": round(res.seconds, 1),
                                   "reused": res.reused, "log": str(res.log)})
        if not res.ok:
            who = "the unpatched baseline (control): the environment, not the series, " \
                  "is at fault" if label == "control" else f"patch {label} '{subject}'"
            self.steps["build"].detail = f"{who} fails to build ({builder.label}); log: {res.log}"
            self.steps["build"].quote = list(res.errors)
            raise Failed
        return res

    def _build_alone(self, bisect: str) -> str:
        """A series of independent patches (the fixes) claims that each
        stands on its own: build each but the first, which the ladder built
        so already, applied alone to the baseline, in the first
        configuration of every architecture that compiles it."""
        n, count = len(self.commits), 0
        for k, (commit, subject) in enumerate(zip(self.commits, self.subjects, strict=True),
                                              start=1):
            if k == 1:
                continue
            label = f"{k}/{n} alone"
            self.repo.git.checkout("-q", "--detach", self.tree.baseline)
            try:
                self.repo.git.cherry_pick("--no-commit", commit, env=gitutil.isolated_env())
            except git.GitCommandError as e:
                self.repo.git.reset("-q", "--hard")
                self.steps["build"].detail = (f"patch {k}/{n} '{subject}' does not apply "
                                              f"alone to the baseline")
                self.steps["build"].quote = [ln for ln in str(e.stderr).splitlines()
                                             if ln.strip()][-5:]
                raise Failed from e
            files = self.repo.git.diff_tree("--no-commit-id", "--name-only", "-r",
                                            commit).split()
            tree = self.repo.git.write_tree()
            try:
                for (arch, name), builder in self.builders.items():
                    if name == bisect and \
                            not all(build.ARCHES[arch].foreign(f) for f in files):
                        self._build_at(builder, label, commit, subject, tree)
                        count += 1
            finally:
                self.repo.git.reset("-q", "--hard")
        self.repo.git.checkout("-q", "--detach", self.commits[-1])
        return f"; each of patches 2-{n} also alone on the baseline ({count} builds)"

    def _keep(self, binary: Path | None, name: str) -> Path:
        assert binary is not None
        kept = self.work / name
        shutil.copy2(binary, kept)
        return kept

    def boot(self) -> None:
        m = self.matrix
        tools = None
        if m.guests and NATIVE in m.arches:
            tools = toolstack.for_tree(self.tree, Path(self.repo.working_tree_dir or ""),
                                       self.cache, m.jobs)
        # Each architecture's dom0; only x86's runs the guest stage (the
        # toolstack is built for x86).
        machines = {arch: dom0.assemble(self.cache, *((m.guests, tools) if arch == NATIVE
                                                      else (None, None)), arch=arch)
                    for arch in m.arches}
        specs: list[tuple[str, boot.BootSpec]] = []
        for arch in m.arches:
            # The command lines and the series' boot options are x86's.
            cmdlines, options = (m.cmdlines, self.variant.boot_options) if arch == NATIVE \
                else (("",), ())
            suffix = "" if arch == NATIVE else f"-{arch}"
            for name in m.builds:
                for cmd in cmdlines:
                    tag = f"{name}{'-' + cmd if cmd else ''}{suffix}".replace("=", "-")
                    if m.control:
                        specs.append(("control", boot.BootSpec(
                            f"control-{tag}", self.control_binaries[arch, name], cmd, m.smp,
                            m.memory, m.timeout, arch=arch)))
                    for opt in options or (None,):
                        for on in ((False, True) if opt else (None,)):
                            extra, expect, otag = cmd, (), ""
                            if opt is not None:
                                extra = f"{cmd} {opt.on if on else opt.off}".strip()
                                expect = opt.expect if on else opt.expect_off
                                otag = f"-{opt.name}-{'on' if on else 'off'}"
                            specs.append(("series", boot.BootSpec(
                                f"series-{tag}{otag}", self.series_binaries[arch, name], extra,
                                m.smp, m.memory, m.timeout, expect, arch)))
        step = self.steps["boot"]
        kept = self.cache / "check" / "boots"
        build.prune(kept)
        for who, spec in specs:
            machine = machines[spec.arch]
            res = boot.boot(spec, machine, self.logs / "boot" / f"{spec.name}.log",
                            None if m.fresh_boots else kept)
            entry = {"name": spec.name, "arch": spec.arch, "ok": res.ok, "reason": res.reason,
                     "exit_code": res.exit_code, "cmdline": spec.cmdline,
                     "seconds": round(res.seconds, 1), "reused": res.reused,
                     "log": str(res.log)}
            said = ""
            if machine.plan:
                text = res.log.read_text()
                entry["guests"] = guests.record(machine.plan, text)
                said = f"; {entry['guests']['summary']}"
            self.report.boots.append(entry)
            again = ", reused: an identical boot passed before" if res.reused else ""
            progress.say(f"  {spec.name}: {res.reason} ({seconds(res.seconds)}{again}){said}")
            if not res.ok:
                blame = " (control: the environment, not the series)" if who == "control" \
                    else ""
                step.detail = f"boot {spec.name} failed{blame}: {res.reason}; log: {res.log}"
                step.quote = res.tail
                raise Failed
        parts = []
        for arch, machine in machines.items():
            n = sum(spec.arch == arch for _, spec in specs)
            said = f"{n} boots with dom0 {machine.version}"
            if machine.plan:
                said += (f", each {machine.plan.cycles} cycles of {machine.plan.guests} PV "
                         f"guests with counters flat over the last (toolstack: "
                         f"{machine.toolstack})")
            elif arch != NATIVE:
                said = f"{arch}: {said} to the marker, without guests"
                only = [o for o in self.variant.kconfig(NATIVE)
                        if o not in self.variant.kconfig(arch)]
                if only:
                    said += (f"; its builds leave out what the series sets on x86 "
                             f"({', '.join(only)}), so these show that the common code "
                             f"changes nothing on {arch}")
            parts.append(said)
        step.detail = "; ".join(parts)
        reused = sum(b["reused"] for b in self.report.boots)
        if reused:
            step.detail += (f"; {reused} reused: the same hypervisor, dom0, command line and "
                            f"code passed before")

    # -- driver ------------------------------------------------------------

    def run(self) -> Report:
        cross = {k: v for a in self.matrix.arches for k, v in build.ARCHES[a].tools.items()}
        qemu = {boot.PLATFORMS[a].qemu[0]: boot.PLATFORMS[a].package for a in self.matrix.arches}
        build.require_tools({**build.TOOLS, **boot.TOOLS, **cross, **qemu})
        with xentree.opened(self.req.xen, self.req.base, progress=progress.say) as tree:
            self.tree = tree
            return self._run()

    def _run(self) -> Report:
        self.report.baseline = self.tree.baseline
        order: list[tuple[str, Callable[[], None]]] = [
            ("gates", self.gates), ("apply", self.apply), ("harness", self.harness),
            ("build", self.build), ("boot", self.boot)]
        names = [name for name, _ in order]
        for name in names[names.index(self.matrix.last) + 1:]:
            self.steps[name].status, self.steps[name].detail = "skipped", "not asked for"
        order = order[:names.index(self.matrix.last) + 1]
        # A fixed work directory: compiles repeat at the same
        # paths from run to run, so ccache serves them.  It is kept after the
        # run for inspection, and locked against a concurrent check.
        self.work = self.cache / "check" / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        with (self.cache / "check" / "lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise GenError(f"another check is running (lock on {self.work})") from e
            shutil.rmtree(self.work)
            self.work.mkdir()
            try:
                for name, fn in order:
                    step = self.steps[name]
                    start = time.monotonic()
                    progress.say(f"[{name}]")
                    try:
                        fn()
                        if step.status == "not run":
                            step.status = "ok"
                    except Failed:
                        step.status = "failed"
                    except GenError as e:
                        step.status, step.detail = "failed", str(e)
                    finally:
                        step.seconds = time.monotonic() - start
                    if step.status == "failed":
                        break
            finally:
                self.write_report()
        return self.report

    def write_report(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.report.save(self.logs.parent / f"{self.variant.name}.check.json")
