"""The Python code is ruff-clean."""

import subprocess
import sys

from ..conftest import ROOT


def test_ruff_is_clean():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "gen", "tests"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
