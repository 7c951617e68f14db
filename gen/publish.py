"""Commit the patches, format them as a mail series, address them, and put
the result in place atomically.

All git runs are isolated from the user's and the system's configuration,
and every date comes from the caller, so the same inputs give the same
bytes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from gen import gitutil
from gen.errors import GenError, OutputError
from gen.gitutil import Identity

SUBJECT_MAX = 80
BODY_MAX = 75

# Xen's tag order (docs/process/sending-patches.pandoc); unknown tags last.
_TAG_RANK = {
    "fixes": 0,
    "reported-by": 1, "suggested-by": 1, "requested-by": 1,
    "assisted-by": 2, "co-developed-by": 2,
    "signed-off-by": 3,
    "reviewed-by": 4, "acked-by": 4, "tested-by": 4, "release-acked-by": 4,
}


def parse_trailer(text: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*:\s*(\S.*?)\s*", text)
    if not m:
        raise GenError(f"bad trailer '{text}': expected 'Key: value'")
    return m.group(1), m.group(2)


def trailer_block(trailers: list[tuple[str, str]], signoff: Identity | None) -> str:
    tags = list(trailers)
    if signoff is not None:
        tags.append(("Signed-off-by", str(signoff)))
    tags.sort(key=lambda kv: _TAG_RANK.get(kv[0].lower(), 5))  # stable
    return "\n".join(f"{k}: {v}" for k, v in tags)


def commit_message(subject: str, body: str, trailers: str) -> str:
    text = subject + "\n\n" + body.strip("\n") + "\n"
    if trailers:
        text += "\n" + trailers + "\n"
    return text


def message_problems(subject: str, body: str) -> list[str]:
    """What breaks xen-devel's rules for subjects and bodies."""
    problems = []
    if len(subject) > SUBJECT_MAX:
        problems.append(f"subject is {len(subject)} characters (limit {SUBJECT_MAX}): "
                        f"{subject}")
    if not re.match(r"[\w./-]+: \S", subject):
        problems.append(f"subject is not '<component>: <description>': {subject}")
    for k, line in enumerate(body.splitlines(), start=1):
        # A Fixes: tag is one line however long (docs/process/sending-patches).
        if len(line) > BODY_MAX and "://" not in line and not line.startswith("Fixes: "):
            problems.append(f"body line {k} is {len(line)} columns (limit {BODY_MAX})")
    return problems


def commit(repo: git.Repo, message: str, author: Identity, date: str) -> str:
    repo.git.add("-A")
    with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as f:
        f.write(message)
    try:
        repo.git.commit("-q", "--no-verify", "--cleanup=verbatim", "-F", f.name,
                        env={**gitutil.isolated_env(), **gitutil.commit_env(author, date)})
    finally:
        Path(f.name).unlink()
    return repo.head.commit.hexsha


@dataclass(frozen=True)
class Mail:
    to: tuple[str, ...]
    reroll: int


def file_prefix(reroll: int) -> str:
    """How format-patch names the files of a version: a first posting has
    no version, in its subjects or its file names, as on xen-devel."""
    return f"v{reroll}-" if reroll > 1 else ""


def series_files(dest: Path, reroll: int) -> tuple[Path, list[Path]]:
    """The cover letter and the patches, in order, of version reroll in dest."""
    prefix = file_prefix(reroll)
    patches = sorted(dest.glob(f"{prefix}[0-9][0-9][0-9][0-9]-*.patch"))
    cover = dest / f"{prefix}0000-cover-letter.patch"
    return cover, [p for p in patches if p != cover]


def format_series(repo: git.Repo, start: str, branch: str, baseline: str, cover: str,
                  mail: Mail, author: Identity, date: str, dest: Path,
                  range_diff: str | None = None) -> list[Path]:
    """git format-patch start..branch into dest, cover letter from `cover`
    (its first paragraph is the subject), with `git range-diff` against the
    revision range range_diff (the previous version) at its end.  The
    cover letter names baseline as the base-commit, and each commit from
    there to start (a prerequisite series) by its prerequisite-patch-id."""
    repo.git.config(f"branch.{branch}.description", cover)
    args = [f"{start}..{branch}", "-o", str(dest.resolve()), "--cover-letter",
            "--cover-from-description=subject",
            "--zero-commit", "--no-signature", f"--base={baseline}", "--numbered",
            "--subject-prefix=PATCH", "--no-thread", "--quiet"]
    args += [f"--reroll-count={mail.reroll}"] if mail.reroll > 1 else []
    args += [f"--range-diff={range_diff}"] if range_diff else []
    args += [f"--to={t}" for t in mail.to]
    repo.git.format_patch(*args, env={**gitutil.isolated_env(),
                                      **gitutil.commit_env(author, date)})
    return sorted(dest.glob("*.patch"))


def reply_to(cover: Path, msgid: str) -> None:
    """Make the cover letter a reply to msgid, as b4 and `git format-patch
    --in-reply-to` do for the first mail; git send-email then threads the
    patches under this cover letter, and it under the previous one."""
    text = cover.read_text()
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    at = next(k for k, line in enumerate(lines) if line.startswith("Subject: "))
    lines[at:at] = [f"In-Reply-To: <{msgid}>", f"References: <{msgid}>"]
    cover.write_text("\n".join(lines) + sep + body)


def insert_notes(patch: Path, notes: str) -> None:
    """Put reviewer notes (the changelog) right after the '---' line."""
    if not notes:
        return
    text = patch.read_text()
    head, sep, tail = text.partition("\n---\n")
    if not sep:
        raise GenError(f"{patch.name} has no '---' line")
    patch.write_text(head + sep + notes + "\n\n" + tail)


def _mailing_lists(root: Path) -> set[str]:
    text = (root / "MAINTAINERS").read_text(errors="replace")
    return {m.group(1).strip().lower() for m in re.finditer(r"^L:\s+(.*)$", text, re.M)}


def maintainers(root: Path, patch: Path) -> list[str]:
    """get_maintainer.pl's answer for one patch file, run as
    scripts/add_maintainers.pl runs it: offline, from the tree's top."""
    script = root / "scripts" / "get_maintainer.pl"
    if not script.is_file():
        raise GenError(f"{script} is missing: cannot compute Cc lines",
                       hint="use --no-cc for a tree without it")
    res = subprocess.run(["perl", str(script), str(patch)], cwd=root, capture_output=True,
                         text=True, check=False)
    if res.returncode:
        raise GenError(f"get_maintainer.pl failed on {patch.name}: {res.stderr.strip()}")
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def _present(text: str, tag: str) -> set[str]:
    header = text.split("\n\n", 1)[0]
    return {m.group(1).strip().lower() for m in re.finditer(rf"^{tag}:\s*(.*)$", header, re.M)}


def add_addresses(patch: Path, addresses: list[str], lists: set[str]) -> list[str]:
    """Insert To: (lists) and Cc: (people) header lines before Date:, as
    add_maintainers.pl does, skipping what is already there.  Returns the
    header lines that are now in the patch for these addresses."""
    text = patch.read_text()
    have = _present(text, "To") | _present(text, "Cc")
    lines = []
    for addr in addresses:
        tag = "To" if addr.lower() in lists else "Cc"
        lines.append(f"{tag}: {addr}")
    new = [x for x in dict.fromkeys(lines) if x.split(": ", 1)[1].lower() not in have]
    if new:
        head, sep, tail = text.partition("\nDate: ")
        patch.write_text(head + "\n" + "\n".join(new) + sep + tail)
    return lines


def address_series(root: Path, files: list[Path]) -> None:
    lists = _mailing_lists(root)
    cover, patches = files[0], files[1:]
    combined: list[str] = []
    for p in patches:
        for line in add_addresses(p, maintainers(root, p), lists):
            combined.append(line)
    add_addresses(cover, [x.split(": ", 1)[1] for x in dict.fromkeys(combined)], lists)


def refuse_existing(dest: Path, force: bool) -> None:
    if dest.exists() and not force:
        raise OutputError(f"output directory already exists: {dest}",
                          hint="remove it, choose another -o, or pass --force to replace it")


def install(staged: Path, dest: Path, force: bool) -> None:
    """Move a fully written directory into place; the old one goes only
    after the new one is there."""
    refuse_existing(dest, force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        dest.rename(old / dest.name)
    staged.rename(dest)
    if old is not None:
        shutil.rmtree(old)
