"""The reroll changelog: what changed in each version of the series.

The file holds one section per version, newest or oldest first:

    v2:
    - An entry for the cover letter only.
    [vmap-partial]
    - An entry for the patch whose slug is vmap-partial; it also
      appears in the cover letter under that patch's subject.

Lines starting with '#' are comments.  Patches are named by slug (see
`python -m gen list --patches`), so a changed subject does not lose them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gen import inputs
from gen.errors import GenError


@dataclass
class Version:
    number: int
    cover: list[str] = field(default_factory=list)
    patches: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Changelog:
    versions: tuple[Version, ...]  # newest first

    def for_patch(self, slug: str) -> list[tuple[int, list[str]]]:
        return [(v.number, v.patches[slug]) for v in self.versions if v.patches.get(slug)]


def parse(text: str, path: str = "changelog") -> Changelog:
    versions: dict[int, Version] = {}
    current: Version | None = None
    target: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if m := re.fullmatch(r"v(\d+):\s*", line):
            current = versions.setdefault(int(m.group(1)), Version(int(m.group(1))))
            target = current.cover
        elif m := re.fullmatch(r"\[([\w.-]+)\]\s*", line):
            if current is None:
                raise GenError(f"{path}:{lineno}: patch section before any 'vN:' line")
            target = current.patches.setdefault(m.group(1), [])
        elif line.startswith("- "):
            if target is None:
                raise GenError(f"{path}:{lineno}: entry before any 'vN:' line")
            target.append(line[2:].rstrip())
        elif line.startswith("  ") and target:
            target[-1] += "\n" + line.rstrip()
        else:
            raise GenError(f"{path}:{lineno}: expected 'vN:', '[slug]' or '- entry'")
    return Changelog(tuple(sorted(versions.values(), key=lambda v: -v.number)))


def load(path: Path, reroll: int, slugs: set[str]) -> Changelog:
    log = parse(inputs.readable_file(path, "--changelog"), str(path))
    for v in log.versions:
        if v.number > reroll:
            raise GenError(f"{path}: has a v{v.number} section, but this is v{reroll}")
        if v.number < 2:
            raise GenError(f"{path}: v{v.number} has no earlier version to change from")
        unknown = set(v.patches) - slugs
        if unknown:
            raise GenError(f"{path}: v{v.number} names unknown patches: "
                           + ", ".join(sorted(unknown)),
                           hint="valid slugs: " + ", ".join(sorted(slugs)))
    return log


def _items(entries: list[str], indent: str = "") -> list[str]:
    out = []
    for e in entries:
        first, *rest = e.split("\n")
        out.append(f"{indent}- {first}")
        out += [f"{indent}{r}" for r in rest]
    return out


def patch_notes(log: Changelog, slug: str) -> str:
    """The text that goes after a patch's '---' line."""
    blocks = [f"Changes in v{n}:\n" + "\n".join(_items(e)) for n, e in log.for_patch(slug)]
    return "\n\n".join(blocks)


def cover_notes(log: Changelog, subjects: dict[str, str]) -> str:
    blocks = []
    for v in log.versions:
        lines = _items(v.cover)
        for slug, entries in v.patches.items():
            if entries:
                lines.append(f"- {subjects[slug]}:")
                lines += _items(entries, "  ")
        if lines:
            blocks.append(f"Changes in v{v.number}:\n" + "\n".join(lines))
    return "\n\n".join(blocks)
