"""Render a patch's edits and splice them into a checkout's files.

Every inserted C hunk is style-checked where it lands, so a finding names
the file and line of the patched tree.
"""

from __future__ import annotations

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


def apply_patch(root: Path, patch: Patch, renderer: Renderer,
                base: Baseline) -> list[Hunk]:
    """Apply the patch's edits that fit this baseline to the files under
    root; return the hunks."""
    hunks = []
    for edit in patch.edits:
        if not edit.applies(base):
            continue
        text = renderer.render(edit.template) if edit.template else ""
        path = root / edit.path
        applied = edit.apply(read(path), text)
        write(path, applied.src)
        landed = text if applied.inserted is None else applied.inserted
        context = landed
        if isinstance(edit, Hook | Sub):
            item = cedit.find(applied.src, edit.function, Kind.FUNCTION, edit.path,
                              getattr(edit, "cond", None))
            context = item.text(applied.src)
        hunks.append(Hunk(edit, applied.src.count("\n", 0, applied.offset) + 1, landed,
                          context))
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
