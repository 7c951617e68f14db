"""Command line: `python -m gen [generate options]` or `python -m gen <command>`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import sys
from pathlib import Path

import git

from gen import __version__, changelog, inputs
from gen.errors import GenError
from gen.series import Variant
from gen.variants import SERIES, VARIANTS


def _date(value: str) -> str:
    """Accept what git accepts ('@<epoch> +0000', ISO 8601, RFC 2822)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty date")
    return value


def add_generate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", required=True, metavar="NAME",
                   help="which series: " + ", ".join(SERIES))
    p.add_argument("--xen", type=Path, metavar="PATH",
                   help="a xen.git clone (its HEAD, or --base) or an unpacked Xen source "
                        "tree; default: Debian's xen source package, fetched with apt "
                        "and cached")
    p.add_argument("--base", default="HEAD", metavar="REV",
                   help="the commit of a --xen clone to build on (default: HEAD)")
    p.add_argument("-o", "--output", type=Path, default=Path("out"), metavar="DIR",
                   help="the series is DIR/<variant>/ (default: out)")
    p.add_argument("-v", "--reroll-count", type=int, default=1, metavar="N",
                   help="version of the series: files v<N>-*.patch, subjects "
                        "[PATCH vN ...] (default: 1)")
    p.add_argument("--changelog", type=Path, metavar="FILE",
                   help="changes since earlier versions; goes after each patch's '---' "
                        "and into the cover letter (format: see README)")
    p.add_argument("--signoff", action="store_true",
                   help="add Signed-off-by with your git identity (never added otherwise)")
    p.add_argument("--trailer", action="append", default=[], metavar="'KEY: VALUE'",
                   help="add a trailer to every patch, e.g. 'Assisted-by: ...'; "
                        "repeatable; sorted in Xen's tag order")
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="To: address (repeatable; default: xen-devel@lists.xenproject.org)")
    p.add_argument("--in-reply-to", type=inputs.message_id, metavar="MSGID",
                   help="the Message-Id of the previous version's cover letter: this "
                        "cover letter replies to it and links to it on lore")
    p.add_argument("--no-cc", dest="cc", action="store_false",
                   help="do not add Cc: lines from the tree's scripts/get_maintainer.pl")
    p.add_argument("--date", type=_date, metavar="DATE",
                   help="author and commit date for every patch (default: "
                        "$SOURCE_DATE_EPOCH if set, else now); fixed dates give "
                        "byte-identical output")
    p.add_argument("--force", action="store_true",
                   help="replace an existing DIR/<variant>/ (gen check: generate it "
                        "afresh, as --regenerate does)")


def generate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gen",
        description="Generate the xenheap-on-vmap patch series for a Xen tree, as "
                    "git format-patch files ready for xen-devel.",
        epilog="other commands: 'python -m gen list' shows the variants; "
               "'python -m gen check --variant NAME' proves a series (apply, build "
               "after every patch, boot dom0 under QEMU); 'python -m gen bench' measures "
               "the variants; 'python -m gen sweep --xen CLONE' tries every release "
               "line; 'python -m gen push' pushes a generated series to a remote's CI.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_generate_options(p)
    return p


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gen check",
        description="Prove a series: gates, git am onto a fresh baseline, harness "
                    "tests, a build after every patch, and QEMU boots of a PV dom0, "
                    "with the unpatched baseline as the control. Uses DIR/<variant>/ "
                    "if it exists, else generates it.")
    add_generate_options(p)
    p.add_argument("--regenerate", action="store_true",
                   help="generate DIR/<variant>/ afresh even if it exists")
    p.add_argument("--builds", default="debug,release", metavar="LIST",
                   help="build configurations to build and boot; the first is built "
                        "after every patch, the others at the control and the last "
                        "patch (debug = CONFIG_DEBUG=y; default: debug,release)")
    p.add_argument("--arch", default="x86_64,arm64", metavar="LIST",
                   help="architectures to build for: x86_64 natively, arm64 with "
                        "Debian's cross compiler; an architecture other than x86_64 is "
                        "built at the control, after each patch that touches common code "
                        "or its own, and at the last patch (default: x86_64,arm64)")
    p.add_argument("--cmdline", action="append", metavar="ARGS",
                   help="a Xen command line to boot each build with, added to the base "
                        "one; repeatable (default: '' and 'xpti=true')")
    p.add_argument("--smp", type=inputs.positive_int, default=2,
                   help="CPUs to boot with (default: 2)")
    p.add_argument("--memory", type=inputs.positive_int, default=2048, metavar="MB",
                   help="guest RAM in MiB (default: 2048)")
    p.add_argument("--timeout", type=inputs.positive_int, default=360, metavar="S",
                   help="seconds before a boot counts as hung (default: 360)")
    p.add_argument("--no-control", dest="control", action="store_false",
                   help="skip booting the unpatched baseline")
    p.add_argument("-j", "--jobs", type=inputs.positive_int, metavar="N",
                   help="parallel make jobs (default: all CPUs)")
    p.add_argument("--no-harness", dest="harness", action="store_false",
                   help="skip the harness step (the check then passes as partial)")
    p.add_argument("--no-bisect", dest="bisect", action="store_false",
                   help="build only the control and the last patch, not every patch "
                        "(faster; proves nothing about bisectability)")
    p.add_argument("--guests", type=inputs.natural_int, default=3, metavar="N",
                   help="PV guests that dom0 creates in each cycle of every boot; 0 "
                        "leaves the guest stage out (default: 3)")
    p.add_argument("--fresh-boots", action="store_true",
                   help="boot everything again, even a boot whose hypervisor, dom0, "
                        "command line and code passed before (whose log is otherwise "
                        "reused)")
    p.add_argument("--cycles", type=inputs.positive_int, default=3, metavar="C",
                   help="cycles of creating and destroying the guests; the memory "
                        "counters after the last cycle must equal those after the one "
                        "before, so a leak check needs 2, and 3 leave Xen a cycle more "
                        "to warm up (default: 3)")
    return p


def list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gen list",
                                description="List the variants, one line each.")
    p.add_argument("--patches", action="store_true",
                   help="also list each variant's patches with their slugs")
    return p


def cmd_list(argv: list[str]) -> int:
    args = list_parser().parse_args(argv)
    width = max(len(n) for n in SERIES)
    for name, v in SERIES.items():
        print(f"{name:<{width}}  {v.summary}")
        if v.prerequisite:
            print(f"{'':<{width}}  (applies on top of the {v.prerequisite.name} series)")
        if args.patches:
            for p in v.patches:
                print(f"{'':<{width}}    {p.slug:<16} {p.subject}")
    return 0


def bench_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gen bench",
        description="Measure what each variant costs: replay the recorded traces and "
                    "synthetic mixes through xmalloc() in the harness for upstream and "
                    "each variant, print a table, write bench.json, bench.txt and PNG "
                    "plots, and keep the table for the series' cover letter. With "
                    "--record, boot the instrumented baseline under QEMU and save "
                    "traces of xmalloc()'s whole-page requests instead.")
    p.add_argument("--xen", type=Path, metavar="PATH",
                   help="the tree to measure or record on (default: Debian's xen source "
                        "package)")
    p.add_argument("-o", "--output", type=Path, default=Path("out/bench"), metavar="DIR",
                   help="where the results go (default: out/bench)")
    p.add_argument("--quick", action="store_true",
                   help="smaller synthetic workloads and a shorter scan curve")
    p.add_argument("--record", action="store_true",
                   help="record traces instead of replaying them")
    p.add_argument("--points", default="1x2048,2x2048,4x2048,8x2048,2x1024,2x4096",
                   metavar="LIST",
                   help="CPUsxMiB boot points to record ('' for none; default: %(default)s)")
    p.add_argument("--guest-points", default="2x1,2x4,4x1,4x4", metavar="LIST",
                   help="CPUsxVCPUS points to record with the guest stage: each boots "
                        "with 2048 MiB and cycles --guests guests of VCPUS vCPUs "
                        "--cycles times ('' for none; default: %(default)s)")
    p.add_argument("--guests", type=inputs.positive_int, default=3, metavar="N",
                   help="guests per cycle at a guest point (default: 3)")
    p.add_argument("--cycles", type=inputs.positive_int, default=3, metavar="K",
                   help="cycles at a guest point (default: 3)")
    p.add_argument("--traces", type=Path, default=Path("bench/traces"), metavar="DIR",
                   help="where traces are written and read (default: bench/traces)")
    p.add_argument("--timeout", type=inputs.positive_int, default=600, metavar="S",
                   help="seconds before a recording boot counts as hung")
    return p


def variant_named(name: str) -> Variant:
    if name not in SERIES:
        raise GenError(f"unknown variant '{name}'",
                       hint="known variants: " + ", ".join(SERIES) + " (python -m gen list)")
    return SERIES[name]


def push_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gen push",
        description="Push a version of a series that gen recorded in your xen.git clone "
                    "(refs/gen/<variant>/v<N>: the series applied to its baseline) as a "
                    "branch of one of the clone's remotes, so that the remote's CI runs "
                    "it (Xen's GitLab pipeline, on a fork of xen.git).")
    p.add_argument("--variant", required=True, metavar="NAME",
                   help="which series: " + ", ".join(SERIES))
    p.add_argument("--xen", type=Path, required=True, metavar="PATH",
                   help="the xen.git clone the series was generated from")
    p.add_argument("--remote", required=True, metavar="NAME",
                   help="a remote of that clone, e.g. your fork")
    p.add_argument("--branch", metavar="B",
                   help="the branch to push to (default: <variant>-v<N>)")
    p.add_argument("-v", "--reroll-count", type=inputs.positive_int, metavar="N",
                   help="which recorded version (default: the newest)")
    p.add_argument("--force", action="store_true",
                   help="replace the branch even if gen did not push it")
    return p


def cmd_push(argv: list[str]) -> int:
    from gen import postings, xentree

    args = push_parser().parse_args(argv)
    variant_named(args.variant)
    with xentree.opened(args.xen, progress=lambda _msg: None) as tree:
        if tree.kind != "clone":
            raise GenError(f"--xen {args.xen} is not a git clone: gen records postings "
                           f"only in a xen.git clone")
    postings.check_target(tree.repo, args.remote, args.branch)
    posting = (postings.find(tree.repo, args.variant, args.reroll_count)
               if args.reroll_count else postings.latest(tree.repo, args.variant))
    if posting is None:
        which = f"v{args.reroll_count} of " if args.reroll_count else ""
        raise GenError(f"no recorded {which}{args.variant} in {tree.repo}",
                       hint=f"generate it first: python -m gen --variant {args.variant} "
                            f"--xen {args.xen}")
    branch = args.branch or f"{posting.variant}-v{posting.version}"
    postings.push(tree.repo, posting, args.remote, branch, args.force)
    print(f"{args.remote} {branch} {posting.tip}")
    return 0


def cmd_bench(argv: list[str]) -> int:
    from gen import trace

    args = bench_parser().parse_args(argv)
    if not args.record:
        return bench_replay(args)
    points = []
    for item in filter(None, args.points.split(",")):
        m = re.fullmatch(r"(\d+)x(\d+)", item.strip())
        if not m:
            raise GenError(f"bad point '{item}': expected CPUSxMiB, e.g. 2x2048")
        points.append(trace.Point(int(m.group(1)), int(m.group(2))))
    for item in filter(None, args.guest_points.split(",")):
        m = re.fullmatch(r"(\d+)x(\d+)", item.strip())
        if not m:
            raise GenError(f"bad guest point '{item}': expected CPUSxVCPUS, e.g. 2x4")
        points.append(trace.Point(int(m.group(1)), 2048, args.guests, args.cycles,
                                  int(m.group(2))))
    written = trace.record(args.xen, points, args.traces, "python -m gen bench "
                           + shlex.join(argv), args.timeout)
    for path in written:
        print(path)
    return 0


def bench_replay(args: argparse.Namespace) -> int:
    from gen import bench, benchout, progress

    plots = importlib.util.find_spec("matplotlib") is not None
    inputs.writable_dir(args.output, "-o")
    args.output.mkdir(parents=True, exist_ok=True)
    with progress.running("measuring upstream, " + " and ".join(VARIANTS)):
        report = bench.measure(args.xen, args.traces, args.quick, progress.say)
    files = benchout.write(report, args.output, plots)
    if not plots:
        progress.say("no plots: they need matplotlib (pip install -e '.[bench]', or "
                     "apt-get install python3-matplotlib)")
    print(files[0].read_text(), end="")
    for f in files:
        progress.say(f"wrote {f}")
    return 0


def sweep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gen sweep",
        description="Try every release line as a baseline: for each ref of a xen.git "
                    "clone, compare the tree's features with its line's record, then "
                    "generate both variants, git am them and run the harness against the "
                    "patched tree (gen check's first steps). Prints a table of ref x "
                    "variant x step, writes it and sweep.json to DIR, and exits non-zero "
                    "if any cell failed.")
    p.add_argument("--xen", type=Path, required=True, metavar="CLONE",
                   help="a xen.git clone with the release tags")
    p.add_argument("--refs", metavar="PATTERN",
                   help="a glob over the clone's tags, e.g. 'RELEASE-4.20.*'; 'HEAD' "
                        "matches the checkout (default: the newest tag of every release "
                        "line from 4.17 on, and HEAD)")
    p.add_argument("--build", action="store_true",
                   help="also build the control and the last patch (x86, debug)")
    p.add_argument("--boot", action="store_true",
                   help="also boot that build, the option on and off, with the guest "
                        "stage (implies --build)")
    p.add_argument("-o", "--output", type=Path, default=Path("out/sweep"), metavar="DIR",
                   help="the series, check reports and sweep.{txt,json} go here "
                        "(default: out/sweep)")
    p.add_argument("-j", "--jobs", type=inputs.positive_int, metavar="N",
                   help="parallel make jobs (default: all CPUs)")
    return p


def cmd_sweep(argv: list[str]) -> int:
    from gen import sweep, xentree

    args = sweep_parser().parse_args(argv)
    with xentree.opened(args.xen, progress=lambda _msg: None) as tree:
        if tree.kind != "clone":
            raise GenError(f"--xen {args.xen} is not a git clone: the sweep checks out "
                           f"its tags")
    if args.output.exists() and not (args.output / "sweep.json").is_file():
        raise GenError(f"{args.output} exists and holds no earlier sweep",
                       hint="pick another -o DIR; gen sweep replaces only its own output")
    inputs.writable_dir(args.output, "-o")
    refs = sweep.refs_of(git.Repo(tree.repo), args.refs)
    last = "boot" if args.boot else "build" if args.build else "harness"
    rows = sweep.sweep(tree.repo, refs, args.output, last, args.jobs)
    js, txt = sweep.write(rows, args.output)
    print(txt.read_text(), end="")
    print(f"gen: wrote {txt} and {js}", file=sys.stderr)
    return 0 if all(r.ok for r in rows) else 1


def make_request(args: argparse.Namespace, argv: list[str], command: str):
    from gen import pipeline

    variant = variant_named(args.variant)
    if args.reroll_count < 1:
        raise GenError("--reroll-count must be 1 or more")
    inputs.writable_dir(args.output, "-o")
    if args.changelog:
        changelog.load(args.changelog, args.reroll_count, {p.slug for p in variant.patches})
    date = args.date
    if date is None and os.environ.get("SOURCE_DATE_EPOCH"):
        epoch = os.environ["SOURCE_DATE_EPOCH"]
        if not epoch.isdigit():
            raise GenError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds")
        date = f"@{epoch} +0000"
    if date is not None:
        inputs.git_date(date)
    return pipeline.Request(
        variant=variant, xen=args.xen, base=args.base, output=args.output,
        reroll=args.reroll_count, changelog=args.changelog, signoff=args.signoff,
        trailers=tuple(args.trailer),
        to=tuple(args.to) if args.to else pipeline.Request.to,
        cc=args.cc, force=args.force, date=date, in_reply_to=args.in_reply_to,
        command=f"python -m gen {command}" + shlex.join(argv))


def cmd_generate(argv: list[str]) -> int:
    from gen import pipeline

    args = generate_parser().parse_args(argv)
    for f in pipeline.generate(make_request(args, argv, "")):
        print(f)
    return 0


def cmd_check(argv: list[str]) -> int:
    from gen import build, check, guests
    from gen.report import summary

    args = check_parser().parse_args(argv)
    req = make_request(args, argv, "check ")
    builds = tuple(b for b in args.builds.split(",") if b)
    unknown = [b for b in builds if b not in check.BUILD_OPTIONS]
    if unknown or not builds:
        raise GenError(f"unknown build configuration: {', '.join(unknown) or '(none)'}",
                       hint="choose from " + ", ".join(check.BUILD_OPTIONS))
    arches = tuple(a for a in args.arch.split(",") if a)
    unknown = [a for a in arches if a not in build.ARCHES]
    if unknown or not arches:
        raise GenError(f"unknown architecture: {', '.join(unknown) or '(none)'}",
                       hint="choose from " + ", ".join(build.ARCHES))
    matrix = check.Matrix(builds=builds, arches=arches,
                          cmdlines=tuple(args.cmdline) if args.cmdline is not None
                          else check.Matrix.cmdlines,
                          smp=args.smp, memory=args.memory, timeout=args.timeout,
                          control=args.control, jobs=args.jobs, harness=args.harness,
                          bisect=args.bisect,
                          guests=guests.Plan(args.guests, args.cycles) if args.guests
                          else None, fresh_boots=args.fresh_boots)
    report = check.Ladder(req, matrix, args.regenerate or args.force).run()
    print(summary(report))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "list":
            return cmd_list(argv[1:])
        if argv and argv[0] == "check":
            return cmd_check(argv[1:])
        if argv and argv[0] == "bench":
            return cmd_bench(argv[1:])
        if argv and argv[0] == "push":
            return cmd_push(argv[1:])
        if argv and argv[0] == "sweep":
            return cmd_sweep(argv[1:])
        return cmd_generate(argv)
    except GenError as e:
        print(f"gen: error: {e}", file=sys.stderr)
        if e.hint:
            print(f"gen: hint: {e.hint}", file=sys.stderr)
        return 1
    except OSError as e:
        # Whatever the checks up front could not foresee: one line, no trace.
        where = f": {e.filename}" if e.filename else ""
        print(f"gen: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except git.GitCommandError as e:
        said = [ln.strip() for ln in str(e.stderr).splitlines() if ln.strip()]
        why = said[-1].removeprefix("stderr: ").strip("'") if said else f"status {e.status}"
        what = e.command[1] if isinstance(e.command, list) and len(e.command) > 1 else ""
        print(f"gen: error: git {what} failed: {why}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gen: interrupted", file=sys.stderr)
        return 130
