"""Postings kept as refs in the user's xen.git clone, as b4 keeps them.

Each version N of a variant that `gen` writes from a clone is recorded in
that clone as two refs: refs/gen/<variant>/v<N> (the series' last commit)
and refs/gen/<variant>/v<N>-base (the commit it is built on: the baseline,
or the last commit of its prerequisite series on the baseline).  They are
the series applied to its baseline, a branch to rebase or push.  A later
`-v N+1` puts `git range-diff` against the recorded vN into its cover
letter, and `gen push` pushes a recorded version to a remote, remembering
what it pushed (refs/gen/pushed/<remote>/<branch>) so that it never
replaces a branch that someone else made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import git

from gen import gitutil
from gen.errors import GenError

ROOT = "refs/gen"


@dataclass(frozen=True)
class Posting:
    variant: str
    version: int
    base: str
    tip: str

    @property
    def ref(self) -> str:
        return ref(self.variant, self.version)

    @property
    def range(self) -> str:
        """The series as a revision range, for git range-diff."""
        return f"{self.base}..{self.tip}"


def ref(variant: str, version: int) -> str:
    return f"{ROOT}/{variant}/v{version}"


def _commit(repo: git.Repo, name: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{name}^{{commit}}")
    except git.GitCommandError:
        return None


def find(repo_path: Path, variant: str, version: int) -> Posting | None:
    """Version `version` of variant as recorded in the clone, or None."""
    repo = git.Repo(repo_path)
    tip = _commit(repo, ref(variant, version))
    base = _commit(repo, ref(variant, version) + "-base")
    return Posting(variant, version, base, tip) if tip and base else None


def latest(repo_path: Path, variant: str) -> Posting | None:
    """The highest version of variant recorded in the clone, or None."""
    names = git.Repo(repo_path).git.for_each_ref("--format=%(refname)", f"{ROOT}/{variant}/")
    versions = [int(m.group(1)) for name in names.split()
                if (m := re.fullmatch(rf"{ROOT}/{re.escape(variant)}/v(\d+)", name))]
    return find(repo_path, variant, max(versions)) if versions else None


def record(repo_path: Path, scratch: git.Repo, branch: str, base: str, variant: str,
           version: int) -> Posting:
    """Copy the series on scratch's branch into the clone as version
    `version` of variant, replacing what was recorded for it before."""
    user = gitutil.isolate(git.Repo(repo_path))
    name = ref(variant, version)
    user.git.fetch("--quiet", "--no-tags", str(scratch.git_dir), f"+refs/heads/{branch}:{name}")
    user.git.update_ref(name + "-base", base)
    tip = _commit(user, name)
    assert tip is not None
    return Posting(variant, version, base, tip)


def _remote_tip(repo: git.Repo, remote: str, branch: str) -> str | None:
    out = repo.git.ls_remote(remote, f"refs/heads/{branch}")
    return out.split()[0] if out.strip() else None


def check_target(repo_path: Path, remote: str, branch: str | None) -> None:
    """That remote is one of the clone's and branch (if given) a valid
    branch name."""
    repo = git.Repo(repo_path)
    if remote not in [r.name for r in repo.remotes]:
        raise GenError(f"{repo_path} has no remote '{remote}'",
                       hint=f"git -C {repo_path} remote add {remote} URL-of-your-fork")
    if branch is None:
        return
    try:
        repo.git.check_ref_format(f"refs/heads/{branch}")
    except git.GitCommandError:
        raise GenError(f"--branch '{branch}' is not a valid branch name") from None


def push(repo_path: Path, posting: Posting, remote: str, branch: str, force: bool) -> None:
    """Push the posting as refs/heads/<branch> of remote (check_target()
    first).  A branch that exists there is replaced only if gen pushed it,
    or with force."""
    repo = git.Repo(repo_path)  # the user's own config: their remotes, keys, credentials
    mine = f"{ROOT}/pushed/{remote}/{branch}"
    there = _remote_tip(repo, remote, branch)
    if there is not None and there not in (_commit(repo, mine), posting.tip) and not force:
        raise GenError(f"branch '{branch}' of {remote} is at {there[:12]}, which gen did "
                       f"not push there",
                       hint="choose another --branch, or pass --force to replace it")
    repo.git.push("--quiet", remote, f"+{posting.tip}:refs/heads/{branch}")
    repo.git.update_ref(mine, posting.tip)
