"""Render a patch's edits and splice them into a checkout's files.

Every inserted C hunk is style-checked where it lands, so a finding names
the file and line of the patched tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gen import cedit, style
from gen.baseline import Baseline
from gen.cedit import Kind
from gen.errors import StyleError
from gen.render import Renderer
from gen.series import Edit, Hook, NewFile, Patch, Sub

C_SUFFIXES = (".c", ".h")


@dataclass(frozen=True)
class Hunk:
    """One rendered edit, where it landed in the patched file.  `context`
    is what the syntax gate parses: the hunk itself, or for a change inside
    a function, the whole function as patched."""

    edit: Edit
    line: int  # first line of the inserted text
    text: str
    context: str

    @property
    def is_c(self) -> bool:
        return self.edit.path.endswith(C_SUFFIXES)


def read(path: Path) -> str:
    # Byte-exact round trip, whatever the file's encoding.
    return path.read_bytes().decode("utf-8", "surrogateescape") if path.exists() else ""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def render_patch(patch: Patch, renderer: Renderer, base: Baseline,
                 read_file: Callable[[str], str]) -> tuple[list[Hunk], dict[str, str]]:
    """The patch's edits that fit this baseline, rendered and applied in
    memory to the files as read_file(path) gives them: the hunks, and the
    new text of every file the patch changes.  Writes nothing."""
    hunks = []
    changed: dict[str, str] = {}
    for edit in patch.edits:
        if not edit.applies(base):
            continue
        text = renderer.render(edit.template) if edit.template else ""
        before = changed[edit.path] if edit.path in changed else read_file(edit.path)
        applied = edit.apply(before, text)
        changed[edit.path] = applied.src
        landed = text if applied.inserted is None else applied.inserted
        context = landed
        if isinstance(edit, Hook | Sub):
            item = cedit.find(applied.src, edit.function, Kind.FUNCTION, edit.path,
                              getattr(edit, "cond", None))
            context = item.text(applied.src)
        hunks.append(Hunk(edit, applied.src.count("\n", 0, applied.offset) + 1, landed,
                          context))
    return hunks, changed


def apply_patch(root: Path, patch: Patch, renderer: Renderer,
                base: Baseline) -> list[Hunk]:
    """render_patch() against the files under root, written back; the hunks."""
    hunks, changed = render_patch(patch, renderer, base, lambda rel: read(root / rel))
    for rel, text in changed.items():
        write(root / rel, text)
    return hunks


def style_findings(hunks: list[Hunk]) -> list[style.Finding]:
    findings = []
    for h in hunks:
        if h.is_c:
            findings += style.check(h.text, h.edit.path, h.line,
                                    new_file=isinstance(h.edit, NewFile))
    return findings


def require_style(patch: Patch, hunks: list[Hunk]) -> None:
    findings = style_findings(hunks)
    if findings:
        shown = "\n  ".join(str(f) for f in findings[:20])
        raise StyleError(f"patch '{patch.subject}' breaks CODING_STYLE:\n  {shown}")
