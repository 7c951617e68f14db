"""Git plumbing shared by the stages: config isolation and identities."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from gen import __version__

# Commits the tool makes for its own bookkeeping (importing an unpacked
# tree) carry this name and no e-mail: they are never sent and are not a
# person's identity.
IMPORT_NAME = "xen-directmap-gen import"

_EMPTY_CONFIG = Path(tempfile.gettempdir()) / "xen-directmap-gen-empty.gitconfig"


def isolated_env() -> dict[str, str]:
    """Environment for git runs whose output must not depend on the user's
    or the system's git configuration (format.*, sendemail.*, diff.*)."""
    if not _EMPTY_CONFIG.exists():
        _EMPTY_CONFIG.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(_EMPTY_CONFIG),
               LC_ALL="C", TZ="UTC")
    return env


def isolate(repo: git.Repo) -> git.Repo:
    repo.git.update_environment(**isolated_env())
    return repo


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def user_identity(repo_path: Path | None = None) -> Identity | None:
    """The user's own git identity, from their real configuration.

    The environment variables git itself honours come first, then the
    repository's config (when given), then the global one.  None when unset:
    the tool never makes one up.
    """
    name = os.environ.get("GIT_AUTHOR_NAME")
    email = os.environ.get("GIT_AUTHOR_EMAIL")
    if name and email:
        return Identity(name, email)
    cmd = git.Git(str(repo_path)) if repo_path else git.Git()
    try:
        name = name or cmd.config("--get", "user.name")
        email = email or cmd.config("--get", "user.email")
    except git.GitCommandError:
        return None
    return Identity(name, email) if name and email else None


def commit_env(author: Identity | None, date: str) -> dict[str, str]:
    """Author/committer environment for one commit made by the tool."""
    name, email = (author.name, author.email) if author else (IMPORT_NAME, "")
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}


def patch_ids(repo: git.Repo, base: str, head: str = "HEAD") -> dict[str, str]:
    """`git patch-id --stable` of each commit in base..head, by commit,
    as git format-patch --base prints them (prerequisite-patch-id)."""
    log = repo.git.log("-p", "--no-color", "--full-index", f"{base}..{head}",
                       env=isolated_env())
    ids = subprocess.run(["git", "patch-id", "--stable"], input=log + "\n", text=True,
                         capture_output=True, check=True, env=isolated_env()).stdout
    return {commit: pid for pid, commit in (ln.split() for ln in ids.splitlines())}


def series_digest(repo: git.Repo, base: str, head: str = "HEAD", messages: bool = True) -> str:
    """What identifies a series whatever its dates, hashes or notes: each
    commit's message (unless messages is False: the code alone) and `git
    patch-id --stable` of its diff, in order, and the version of the tool
    that proved or generated it."""
    patch_id = patch_ids(repo, base, head)
    h = hashlib.sha256(f"xen-directmap-gen {__version__}\n".encode())
    for sha in repo.git.rev_list("--reverse", f"{base}..{head}").split():
        message = repo.commit(sha).message if messages else ""
        assert isinstance(message, str)
        h.update(f"{message.strip()}\0{patch_id.get(sha, '')}\0".encode())
    return h.hexdigest()
