"""The input boundary: every bad option is one `gen: error:` line and exit
status 1 (or argparse's usage error, status 2), before any work starts,
with nothing written and no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest

from gen import cli, inputs, xentree
from gen.errors import GenError

from ..conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "minixen"


def one_error(run, pattern: str) -> None:
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("gen: error:")]
    assert len(errors) == 1, run.stderr
    assert re.search(pattern, errors[0]), errors[0]
    # Refused before the tree was opened: no progress line came first.
    assert not run.stderr.startswith("gen: fetching"), run.stderr


@pytest.mark.parametrize("command", [[], ["check"]])
def test_output_under_proc(gen_cli, command):
    run = gen_cli(*command, "--variant", "split-vmap", "-o", "/proc/x")
    one_error(run, r"^gen: error: -o /proc/x: cannot write in /proc: ")


def test_output_that_is_a_file(gen_cli, tmp_path):
    (tmp_path / "f").write_text("mine\n")
    run = gen_cli("--variant", "split-vmap", "-o", "f")
    one_error(run, r"^gen: error: -o f: exists and is not a directory$")
    assert (tmp_path / "f").read_text() == "mine\n"


def test_output_below_a_file(gen_cli, tmp_path):
    (tmp_path / "f").write_text("mine\n")
    run = gen_cli("--variant", "split-vmap", "-o", "f/out")
    one_error(run, r"^gen: error: -o f/out: .*/f is not a directory$")


def test_bench_output_that_is_a_file(gen_cli, tmp_path):
    (tmp_path / "f").write_text("mine\n")
    run = gen_cli("bench", "-o", "f")
    one_error(run, r"^gen: error: -o f: exists and is not a directory$")


@pytest.mark.parametrize("date", ["garbage", "2026-01-01", "now"])
def test_a_date_git_does_not_take(gen_cli, tmp_path, date):
    run = gen_cli("--variant", "split-vmap", "--date", date)
    one_error(run, rf"^gen: error: --date '{date}': git does not take it as a date$")
    assert not (tmp_path / "out").exists()


def test_source_date_epoch_that_is_not_a_number(gen_cli):
    run = gen_cli("--variant", "split-vmap", env={"SOURCE_DATE_EPOCH": "yesterday"})
    one_error(run, r"SOURCE_DATE_EPOCH='yesterday' is not a number of seconds")


@pytest.mark.parametrize("command", [[], ["check"]])
def test_missing_changelog(gen_cli, tmp_path, command):
    run = gen_cli(*command, "--variant", "split-vmap", "-v", "2",
                  "--changelog", "/nonexistent")
    one_error(run, r"^gen: error: --changelog /nonexistent: No such file or directory$")
    assert not (tmp_path / "out").exists()


def test_changelog_that_is_a_directory(gen_cli, tmp_path):
    (tmp_path / "log").mkdir()
    run = gen_cli("--variant", "split-vmap", "-v", "2", "--changelog", "log")
    one_error(run, r"^gen: error: --changelog log: Is a directory$")


@pytest.mark.parametrize("option,value,why", [
    ("--smp", "0", "0 is less than 1"), ("--memory", "-1", "-1 is less than 1"),
    ("--timeout", "soon", "'soon' is not a whole number"), ("-j", "0", "0 is less than 1"),
    ("--guests", "-1", "-1 is less than 0"), ("--cycles", "0", "0 is less than 1")])
def test_check_numbers(gen_cli, option, value, why):
    run = gen_cli("check", "--variant", "split-vmap", option, value)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"argument {option}" in run.stderr and why in run.stderr, run.stderr


def test_check_takes_force_as_regenerate():
    args = cli.check_parser().parse_args(["--variant", "split-vmap", "--force"])
    assert args.force and not args.regenerate


def test_os_errors_are_one_line(monkeypatch, capsys):
    def fail(argv):
        raise PermissionError(13, "Permission denied", "/some/file")
    monkeypatch.setattr(cli, "cmd_generate", fail)
    assert cli.main(["--variant", "split-vmap"]) == 1
    assert capsys.readouterr().err == "gen: error: Permission denied: /some/file\n"


def test_git_errors_are_one_line(monkeypatch, capsys, tmp_path):
    def fail(argv):
        git.Repo.init(tmp_path).git.rev_parse("--verify", "nosuchref")
    monkeypatch.setattr(cli, "cmd_generate", fail)
    assert cli.main(["--variant", "split-vmap"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gen: error: git rev-parse failed: "), err


def test_an_imported_tree_is_removed_however_the_block_ends():
    with pytest.raises(GenError), xentree.opened(FIXTURE, progress=lambda _m: None) as tree:
        scratch = Path(tree.repo).parent
        assert tree.kind == "unpacked" and scratch.name.startswith("gen-import-")
        raise GenError("a later stage failed")
    assert not scratch.exists()


@pytest.mark.parametrize("text,want", [("abc.1@example.org", "abc.1@example.org"),
                                       ("<abc.1@example.org>", "abc.1@example.org"),
                                       (" <a@b> ", "a@b")])
def test_message_id(text, want):
    assert inputs.message_id(text) == want


@pytest.mark.parametrize("text", ["", "abc", "<a b@c>", "a@b@c", "<>"])
def test_not_a_message_id_is_a_usage_error(gen_cli, text):
    run = gen_cli("--variant", "split-vmap", "--in-reply-to", text)
    assert run.returncode == 2 and "is not a Message-Id" in run.stderr, run.stderr
