"""The generation pipeline, one stage after another, each a function of
the one before:

    plan     the variant's patches rendered against the baseline (pure)
    gate     CODING_STYLE, pycparser, commit-message rules
    commit   one commit per patch on a scratch checkout
    format   git format-patch, cover letter, range-diff, notes, Cc lines
    publish  the output directory put in place at once; the version
             recorded in a clone
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from gen import (
    __version__,
    baseline,
    changelog,
    postings,
    publish,
    report,
    splice,
    syntax,
    xentree,
)
from gen.benchcache import cached_table
from gen.errors import AnchorError, GenError
from gen.gitutil import Identity, series_digest, user_identity
from gen.render import Features, Renderer
from gen.series import Patch, Variant

# Used as the author when the user has no git identity: an address in the
# reserved .invalid domain, never a person.  A warning says so.
PLACEHOLDER_AUTHOR = Identity("Unset Author", "unset-author@invalid")


def log(msg: str) -> None:
    print(f"gen: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Request:
    variant: Variant
    xen: Path | None
    base: str = "HEAD"
    output: Path = Path("out")
    reroll: int = 1
    changelog: Path | None = None
    signoff: bool = False
    trailers: tuple[str, ...] = ()
    to: tuple[str, ...] = ("xen-devel@lists.xenproject.org",)
    cc: bool = True
    force: bool = False
    date: str | None = None  # git date; None means now
    in_reply_to: str | None = None  # the previous version's cover letter
    command: str = "python -m gen"
    record: bool = True  # record the version in a clone (postings.py); gen sweep does not

    @property
    def dest(self) -> Path:
        return self.output / self.variant.name


@dataclass
class Built:
    """A scratch checkout with the series committed on a branch, on top of
    its prerequisite's commits (if any), which begin at the baseline."""

    tree: xentree.XenTree
    base: baseline.Baseline
    repo: git.Repo
    branch: str
    patches: tuple[Patch, ...]
    start: str  # the commit the series' own patches apply to

    @property
    def root(self) -> Path:
        return Path(self.repo.working_tree_dir or ".")


def template_context(variant: Variant, base: baseline.Baseline,
                     patches: tuple[Patch, ...], upto: int | None = None) -> dict[str, object]:
    """What templates see.  has_patch(slug): the series contains it;
    upto(slug): it is applied by the time the patch being rendered (the
    first `upto` patches, all by default) is; number(slug): its position;
    prerequisite: the patches of the series it applies on top of."""
    from gen.variants import SERIES

    slugs = [p.slug for p in patches]
    before = variant.prerequisite.applied(base) if variant.prerequisite else ()
    applied = set(slugs[:upto] if upto is not None else slugs)
    known = set(slugs) | {p.slug for v in SERIES.values() for p in v.patches}

    def check(slug: str) -> str:
        if slug not in known:
            raise GenError(f"template names unknown patch '{slug}'")
        return slug

    return {"variant": variant, "baseline": base, "feat": Features(base.features),
            "prerequisite": before,
            "has_patch": lambda slug: check(slug) in slugs,
            "upto": lambda slug: check(slug) in applied,
            "number": lambda slug: slugs.index(check(slug)) + 1}


@dataclass(frozen=True)
class Planned:
    """One patch as planned: its hunks, the whole new text of each file it
    changes, and its message body; nothing is gated or written yet."""

    patch: Patch
    hunks: tuple[splice.Hunk, ...]
    files: dict[str, str]
    body: str


def plan(variant: Variant, base: baseline.Baseline, patches: tuple[Patch, ...],
         read_file: Callable[[str], str]) -> tuple[Planned, ...]:
    """Stage 1, pure: each patch rendered against the baseline's files
    (read_file(path)) as the patches before it leave them."""
    files: dict[str, str] = {}

    def current(rel: str) -> str:
        return files[rel] if rel in files else read_file(rel)

    out = []
    for k, patch in enumerate(patches, start=1):
        renderer = Renderer(template_context(variant, base, patches, upto=k))
        hunks, changed = splice.render_patch(patch, renderer, base, current)
        files.update(changed)
        out.append(Planned(patch, tuple(hunks), changed, renderer.render(patch.message)))
    return tuple(out)


def gate(planned: tuple[Planned, ...]) -> tuple[Planned, ...]:
    """Stage 2: CODING_STYLE, the pycparser parse and xen-devel's message
    rules for every patch; the plan as it was, or a GenError."""
    for p in planned:
        splice.require_style(p.patch, list(p.hunks))
        problems = syntax.check(list(p.hunks))
        if problems:
            raise GenError(f"patch '{p.patch.subject}' does not parse:\n  "
                           + "\n  ".join(map(str, problems)))
        problems = publish.message_problems(p.patch.subject, p.body)
        if problems:
            raise GenError(f"commit message of '{p.patch.slug}': " + "; ".join(problems))
    return planned


def commit_series(gated: tuple[Planned, ...], repo: git.Repo, author: Identity, date: str,
                  trailers: Sequence[tuple[str, str]] = (),
                  signer: Identity | None = None) -> list[str]:
    """Stage 3: one commit per gated patch on the checkout; their ids."""
    root = Path(repo.working_tree_dir or ".")
    shas = []
    for p in gated:
        for rel, text in p.files.items():
            splice.write(root / rel, text)
        tags = publish.trailer_block([*p.patch.trailers, *trailers], signer)
        shas.append(publish.commit(repo, publish.commit_message(p.patch.subject, p.body, tags),
                                   author, date))
    return shas


def commit_planned(variant: Variant, base: baseline.Baseline, repo: git.Repo, author: Identity,
                   date: str, trailers: Sequence[tuple[str, str]] = (),
                   signer: Identity | None = None) -> tuple[Patch, ...]:
    """Stages 1-3 for one series on the checkout as it is: its patches
    planned against the files there, gated and committed."""
    root = Path(repo.working_tree_dir or ".")
    patches = variant.for_baseline(base)
    try:
        planned = plan(variant, base, patches, lambda rel: splice.read(root / rel))
    except AnchorError as e:
        e.hint = baseline.unsupported_hint(base)
        raise
    commit_series(gate(planned), repo, author, date, trailers, signer)
    return patches


def commit_prerequisite(variant: Variant, base: baseline.Baseline, repo: git.Repo,
                        author: Identity, date: str) -> str:
    """The variant's prerequisite series (and its own, first) committed on
    the checkout as it would be generated on its own; the commit that the
    variant's patches then apply to.  Its patch ids, not its messages,
    name it in the cover letter, so it carries no trailers of the user's."""
    if variant.prerequisite:
        commit_prerequisite(variant.prerequisite, base, repo, author, date)
        commit_planned(variant.prerequisite, base, repo, author, date)
    return repo.head.commit.hexsha


def build(variant: Variant, tree: xentree.XenTree, scratch: Path, author: Identity,
          date: str, trailers: Sequence[tuple[str, str]] = (),
          signer: Identity | None = None) -> Built:
    """Stages 1-3 on a scratch checkout of tree: the prerequisite's patches
    and then the variant's planned, gated and committed.  Every user of a
    patched tree (generate, check, bench, the harness tests) gets it from
    here."""
    branch = f"gen/{variant.name}"
    repo = xentree.checkout(tree, scratch / "xen", branch)
    base = baseline.probe(Path(repo.working_tree_dir or scratch))
    start = commit_prerequisite(variant, base, repo, author, date)
    patches = commit_planned(variant, base, repo, author, date, trailers, signer)
    return Built(tree, base, repo, branch, patches, start)


def resolve_author(req: Request, tree: xentree.XenTree) -> tuple[Identity, Identity | None]:
    """(author, sign-off identity).  Only the user's own identity signs off."""
    ident = user_identity(tree.repo if tree.kind == "clone" else None)
    if req.signoff and ident is None:
        raise GenError("--signoff needs your git identity, and none is configured",
                       hint="git config --global user.name 'Your Name'; "
                            "git config --global user.email you@example.org")
    if ident is None:
        log(f"warning: git user.name/user.email are not set, so the patches carry "
            f"the placeholder author '{PLACEHOLDER_AUTHOR}'; set your identity and "
            f"generate again before sending")
    return ident or PLACEHOLDER_AUTHOR, ident if req.signoff else None


def previous_posting(req: Request, tree: xentree.XenTree) -> postings.Posting | None:
    """The recorded version before req's, which the cover letter's
    range-diff compares against; None for a first version, or with a
    note when there is none to compare against."""
    if req.reroll == 1:
        return None
    found = postings.find(tree.repo, req.variant.name, req.reroll - 1) \
        if tree.kind == "clone" else None
    if found is None:
        where = f"in {tree.repo}" if tree.kind == "clone" else "(only a xen.git clone has them)"
        log(f"note: no recorded v{req.reroll - 1} of {req.variant.name} {where}, so the "
            f"cover letter has no range-diff")
    return found


def format_mail(req: Request, built: Built, cover: str, author: Identity, date: str,
                notes: changelog.Changelog | None, previous: postings.Posting | None,
                dest: Path) -> list[Path]:
    """Stage 4: the series as mails in dest: git format-patch with the
    cover letter and a range-diff against the previous version, the reply
    to it, the changelog notes and the Cc lines."""
    files = publish.format_series(built.repo, built.start, built.branch, built.tree.baseline,
                                  cover, publish.Mail(req.to, req.reroll), author, date, dest,
                                  previous.range if previous else None)
    if req.in_reply_to:
        publish.reply_to(files[0], req.in_reply_to)
    if notes:
        for patch, path in zip(built.patches, files[1:], strict=True):
            publish.insert_notes(path, changelog.patch_notes(notes, patch.slug))
    if req.cc:
        publish.address_series(built.root, files)
    return files


def publish_series(req: Request, tree: xentree.XenTree, built: Built, staged: Path) -> None:
    """Stage 5: the formatted mails put in place at once, and the version
    recorded in a clone (postings.py)."""
    publish.install(staged, req.dest, req.force)
    if tree.kind == "clone" and req.record:
        posting = postings.record(tree.repo, built.repo, built.branch, built.start,
                                  req.variant.name, req.reroll)
        log(f"recorded as {posting.ref} (and {posting.ref}-base) in {tree.repo}")


def generate(req: Request) -> list[Path]:
    """Write the series for req; returns the files, in order."""
    publish.refuse_existing(req.dest, req.force)
    date = req.date or f"@{int(time.time())} +0000"
    trailer_pairs = [publish.parse_trailer(t) for t in req.trailers]
    with xentree.opened(req.xen, req.base, progress=log) as tree, \
            tempfile.TemporaryDirectory(prefix="gen-") as tmp:
        author, signer = resolve_author(req, tree)
        scratch = Path(tmp)
        built = build(req.variant, tree, scratch, author, date, trailer_pairs, signer)
        log(f"baseline Xen {built.base.version_string}, {len(built.patches)} patches")
        posting_base = tree.kind == "clone" and "unstable" in built.base.extraversion
        if not posting_base:
            log(f"warning: Xen {built.base.version_string} ({tree.origin}) is not a posting "
                f"base: xen-devel takes series against staging; for posting, generate "
                f"from a staging clone (--xen ~/xen.git)")
        slugs = {p.slug: p.subject for p in built.patches}
        log_ = changelog.load(req.changelog, req.reroll, set(slugs)) if req.changelog \
            else None
        if req.reroll > 1 and log_ is None:
            log(f"warning: v{req.reroll} without --changelog: reviewers expect "
                f"'Changes in v{req.reroll}'")
        previous = previous_posting(req, tree)

        renderer = Renderer(template_context(req.variant, built.base, built.patches))
        digest = series_digest(built.repo, tree.baseline, built.branch)
        code = series_digest(built.repo, tree.baseline, built.branch, messages=False)
        cover = renderer.render(
            "cover.txt.j2", tool_version=__version__, command=req.command,
            origin=tree.origin, baseline_commit=tree.baseline, posting_base=posting_base,
            upstream_hint=tree.upstream_hint,
            bench=cached_table(tree.baseline, req.variant.name, code),
            tested=report.tested(req.output / f"{req.variant.name}.check.json", digest),
            changelog=changelog.cover_notes(log_, slugs) if log_ else "",
            previous=req.in_reply_to)

        req.dest.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{req.variant.name}.tmp-",
                                       dir=req.dest.parent.resolve()))
        try:
            files = format_mail(req, built, cover, author, date, log_, previous, staged)
            publish_series(req, tree, built, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return [req.dest / f.name for f in files]
