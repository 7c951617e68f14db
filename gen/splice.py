"""Render a patch's edits and splice them into a checkout's files.

Every inserted C hunk is style-checked where it lands, so a finding names
the file and line of the patched tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gen import style
from gen.errors import StyleError
from gen.render import Renderer
from gen.series import Edit, NewFile, Patch

C_SUFFIXES = (".c", ".h")


@dataclass(frozen=True)
class Hunk:
    """One rendered edit, where it landed in the patched file."""

    edit: Edit
    line: int  # first line of the inserted text
    text: str

    @property
    def is_c(self) -> bool:
        return self.edit.path.endswith(C_SUFFIXES)


def read(path: Path) -> str:
    # Byte-exact round trip, whatever the file's encoding.
    return path.read_bytes().decode("utf-8", "surrogateescape") if path.exists() else ""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def apply_patch(root: Path, patch: Patch, renderer: Renderer) -> list[Hunk]:
    """Apply patch's edits to the files under root; return the hunks."""
    hunks = []
    for edit in patch.edits:
        text = renderer.render(edit.template)
        path = root / edit.path
        applied = edit.apply(read(path), text)
        write(path, applied.src)
        hunks.append(Hunk(edit, applied.src.count("\n", 0, applied.offset) + 1, text))
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
