"""The parts that decide what a check proved: boot.judge() (every boot),
the report's verdict and summary, report.tested() (what the cover letter
may claim), the series digest it is keyed by, and add_addresses() (the Cc
lines of every patch)."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from gen import boot, gitutil, publish
from gen.report import Report, Step, summary
from gen.report import tested as proof

GOOD = """\
(XEN) Xen version 4.17.5 (root@x) (gcc) debug=y
(XEN) Brought up 2 CPUs
(XEN) *** Building a PV Dom0 ***
(XEN) Freed 640kB init memory
GEN-DOM0-MARKER: dom0 6.1.0 up
"""
SPEC = boot.BootSpec("t", Path("/xen"), smp=2, timeout=9)


@pytest.mark.parametrize("text,exit_code,reason", [
    (GOOD, 65, ""),
    (GOOD + "(XEN) SELFTEST FAILURE: CORRECT BEHAVIOR CANNOT BE GUARANTEED\n", 65, ""),
    (GOOD + "(XEN) Xen WARN at page_alloc.c:42\n", 65, "warn: Xen WARN at"),
    (GOOD + "(XEN) Assertion 'x' failed at vmap.c:3\n", 65, "assertion: Assertion 'x' failed at"),
    (GOOD + "(XEN) Xen BUG at vmap.c:7\n", 65, "bug: Xen BUG at"),
    (GOOD + "(XEN) FATAL PAGE FAULT\n", 65, "fatal-fault: FATAL PAGE FAULT"),
    (GOOD + "(XEN) Panic on CPU 0:\n", 65, "panic: Panic on CPU 0"),
    (GOOD + "Kernel panic - not syncing: x\n", 65, "dom0-panic: Kernel panic"),
    (GOOD, None, "timeout after 9s"),
    (GOOD.replace("Brought up 2", "Brought up 1"), 65, "cpus: brought up 1 of 2"),
    (GOOD.replace("GEN-DOM0-MARKER", "nothing"), 65, "missing: marker"),
    (GOOD.replace("Freed 640kB", "Freed"), 65, "missing: init-freed"),
    (GOOD, 0, "exit code 0, expected 65"),  # -cpu max's crash looks like success
])
def test_judge(text, exit_code, reason):
    got = boot.judge(SPEC, text, exit_code)
    assert got.startswith(reason) and bool(got) == bool(reason), got


def test_judge_checks_what_the_spec_expects():
    spec = boot.BootSpec("t", Path("/xen"), expect=(("xenheap", r"Xenheap on vmap: VA"),))
    assert boot.judge(spec, GOOD, 65) == "missing: xenheap"
    assert boot.judge(spec, GOOD + "(XEN) Xenheap on vmap: VA 1-2\n", 65) == ""


def report(*statuses: str, digest: str = "d1") -> Report:
    names = ("gates", "apply", "harness", "build", "boot")
    r = Report("split-vmap", "out/split-vmap", "b" * 40,
               [Step(n, s, detail="12 passed, 3 deselected, by an identical earlier run (same "
                                 "series); log: /tmp/x/harness.log" if n == "harness" else "")
                for n, s in zip(names, statuses, strict=True)], digest=digest)
    # x86-64: debug after every patch, release at the ends; arm64: debug
    # after the one patch of three that it compiles and at the ends.
    r.builds = [{"point": p, "config": "debug"} for p in ("control", "1/3", "2/3", "3/3")]
    r.builds += [{"point": p, "config": "release"} for p in ("control", "3/3")]
    r.builds += [{"point": p, "config": "debug", "arch": "arm64"}
                 for p in ("control", "1/3", "3/3")]
    r.builds += [{"point": p, "config": "release", "arch": "arm64"} for p in ("control", "3/3")]
    r.boots = [{"name": n, "ok": True, "seconds": 9.0, "reason": ""}
               for n in ("control-debug", "series-debug", "series-release-xpti-true")]
    r.boots += [{"name": n, "arch": "arm64", "ok": True, "seconds": 9.0, "reason": ""}
                for n in ("control-debug-arm64", "series-debug-arm64")]
    return r


def test_verdicts():
    assert report("ok", "ok", "ok", "ok", "ok").ok
    assert not report("ok", "ok", "n/a", "ok", "ok").ok, "n/a is not a pass"
    partial = report("ok", "ok", "skipped", "ok", "ok")
    assert partial.ok and not partial.complete
    assert summary(partial).endswith("PASS (partial: harness skipped)")
    assert summary(report("ok", "ok", "ok", "failed", "not run")).endswith("FAIL")


def test_tested_needs_a_complete_pass_of_the_same_series(tmp_path):
    path = tmp_path / "r.json"
    report("ok", "ok", "ok", "ok", "ok").save(path)
    t = proof(path, "d1")
    assert t is not None
    assert t.per_patch == ["debug"] and t.at_last == ["release", "arm64 release"]
    assert t.common == ["arm64 debug"]
    assert t.boots == ["debug", "release-xpti-true"] and t.harness == "12 passed, 3 deselected"
    assert t.cross_boots == ["debug-arm64"] and t.alone == []
    assert proof(path, "d2") is None, "another series"
    assert proof(tmp_path / "none.json", "d1") is None
    for statuses in (("ok", "ok", "skipped", "ok", "ok"), ("ok", "ok", "n/a", "ok", "ok"),
                     ("ok", "ok", "ok", "ok", "failed")):
        report(*statuses).save(path)
        assert proof(path, "d1") is None, statuses


def test_builds_of_each_patch_alone_are_said_apart(tmp_path):
    """The fixes series' builds of each patch alone on the baseline do not
    count as builds after every patch; they are said on their own."""
    r = report("ok", "ok", "ok", "ok", "ok")
    r.builds += [{"point": f"{k}/3 alone", "config": "debug"} for k in (2, 3)]
    r.builds += [{"point": "3/3 alone", "config": "debug", "arch": "arm64"}]
    r.save(tmp_path / "r.json")
    t = proof(tmp_path / "r.json", "d1")
    assert t is not None and t.per_patch == ["debug"] and t.common == ["arm64 debug"]
    assert t.alone == ["debug", "arm64 debug"]


def test_series_digest_follows_code_and_message_not_dates(tmp_path):
    repo = git.Repo.init(tmp_path)
    env = gitutil.isolated_env()

    def commit(name: str, text: str, msg: str, date: str) -> None:
        (tmp_path / name).write_text(text)
        repo.git.add(name)
        repo.git.commit("-qm", msg, env={**env, **gitutil.commit_env(
            gitutil.Identity("a", "a@example.org"), date)})

    commit("f", "base\n", "base", "@0 +0000")
    base = repo.head.commit.hexsha
    commit("f", "one\n", "change f", "@0 +0000")
    first = gitutil.series_digest(repo, base)
    repo.git.reset("-q", "--hard", base)
    commit("f", "one\n", "change f", "@99999 +0000")
    assert gitutil.series_digest(repo, base) == first, "dates and hashes do not count"
    repo.git.reset("-q", "--hard", base)
    commit("f", "two\n", "change f", "@0 +0000")
    assert gitutil.series_digest(repo, base) != first, "the code counts"
    repo.git.reset("-q", "--hard", base)
    commit("f", "one\n", "change f, differently said", "@0 +0000")
    assert gitutil.series_digest(repo, base) != first, "the message counts"


PATCH = """\
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: A <a@example.org>
To: xen-devel@lists.xenproject.org
Cc: Jan Beulich <jbeulich@suse.com>
Date: Thu, 1 Jan 2026 00:00:00 +0000
Subject: [PATCH 1/2] x

Body with Cc: not-a-header@example.org
"""


def test_add_addresses(tmp_path):
    patch = tmp_path / "p.patch"
    patch.write_text(PATCH)
    lists = {"xen-devel@lists.xenproject.org"}
    lines = publish.add_addresses(patch, ["Jan Beulich <jbeulich@suse.com>",
                                          "xen-devel@lists.xenproject.org",
                                          "Roger Pau Monne <roger.pau@citrix.com>",
                                          "Roger Pau Monne <roger.pau@citrix.com>"], lists)
    assert lines == ["Cc: Jan Beulich <jbeulich@suse.com>",
                     "To: xen-devel@lists.xenproject.org",
                     "Cc: Roger Pau Monne <roger.pau@citrix.com>",
                     "Cc: Roger Pau Monne <roger.pau@citrix.com>"]
    head = patch.read_text().split("\n\n", 1)[0].splitlines()
    # Only what was missing, once, before Date:, and nothing in the body.
    assert head.count("Cc: Roger Pau Monne <roger.pau@citrix.com>") == 1
    assert head.count("Cc: Jan Beulich <jbeulich@suse.com>") == 1
    assert head.count("To: xen-devel@lists.xenproject.org") == 1
    assert head.index("Cc: Roger Pau Monne <roger.pau@citrix.com>") < \
        next(i for i, h in enumerate(head) if h.startswith("Date: "))
    assert patch.read_text().endswith("Body with Cc: not-a-header@example.org\n")
    before = patch.read_text()
    publish.add_addresses(patch, ["Jan Beulich <jbeulich@suse.com>"], lists)
    assert patch.read_text() == before, "idempotent, as add_maintainers.pl is"
