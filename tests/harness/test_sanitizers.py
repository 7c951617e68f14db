"""The harness tests again, with the shim and the tree's code built with
ASan and UBSan (any report fails the run), in a subprocess that preloads
ASan's runtime.  CI runs the short pass; with GEN_HARNESS_LONG=1 the
subprocess runs the long stateful run instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gen import harness

from ..conftest import ROOT
from .conftest import LONG

HERE = Path(__file__).resolve().parent


def test_the_suite_passes_under_asan_and_ubsan(debian_tree):
    if harness.sanitizing():
        # In the sanitized run itself: the runtimes are really loaded.
        xh = harness.build(debian_tree.repo)
        maps = Path("/proc/self/maps").read_text()
        assert xh.spec.sanitize and "libasan" in maps and "libubsan" in maps
        return
    # The mutants are built and searched once, unsanitized, which is enough.
    # The long run is of the patched tree: the control's code is covered by
    # the short pass and, unsanitized, by every CI run.
    selection = [str(HERE / "test_stateful.py"), "-k", "not baseline", "-s"] if LONG else \
        [str(HERE), "-k", "not mutant and not unmutated"]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *selection], cwd=ROOT, env={**os.environ, **harness.sanitizer_env()},
                         capture_output=True, text=True, check=False)
    print(res.stdout[-3000:])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-6000:]
    assert "passed" in res.stdout.splitlines()[-1]
