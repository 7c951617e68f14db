"""The data model: a Variant is a list of Patches, a Patch a list of Edits.

Each kind of edit is one small class that knows how to apply its rendered
text to a file's contents and how to describe itself.  Edits locate their
anchors with cedit, so a moved or reshaped anchor stops generation with an
error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gen import cedit
from gen.baseline import Baseline
from gen.cedit import Kind
from gen.errors import AnchorError


@dataclass(frozen=True)
class Anchor:
    kind: Kind
    name: str
    cond: str | None = None  # the enclosing #if condition, to pick one of several

    def __str__(self) -> str:
        where = f" under #if {self.cond}" if self.cond else ""
        return f"{self.kind.value} '{self.name}'{where}"


def fn(name: str, cond: str | None = None) -> Anchor:
    return Anchor(Kind.FUNCTION, name, cond)


def decl(name: str) -> Anchor:
    return Anchor(Kind.DECLARATION, name)


def macro(name: str) -> Anchor:
    return Anchor(Kind.MACRO, name)


@dataclass(frozen=True)
class Applied:
    """Where an edit put its text: used to map style findings to file:line."""

    src: str
    offset: int


@dataclass(frozen=True, kw_only=True)
class Edit:
    path: str
    template: str

    def apply(self, src: str, text: str) -> Applied:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _find(self, src: str, anchor: Anchor) -> cedit.Item:
        return cedit.find(src, anchor.name, anchor.kind, self.path, anchor.cond)


@dataclass(frozen=True, kw_only=True)
class InsertAfter(Edit):
    """Add new top-level code after an existing item."""

    anchor: Anchor

    def apply(self, src: str, text: str) -> Applied:
        return Applied(*cedit.insert_after(src, self._find(src, self.anchor), text))

    def describe(self) -> str:
        return f"{self.path}: insert {self.template} after {self.anchor}"


@dataclass(frozen=True, kw_only=True)
class InsertBefore(Edit):
    anchor: Anchor

    def apply(self, src: str, text: str) -> Applied:
        return Applied(*cedit.insert_before(src, self._find(src, self.anchor), text))

    def describe(self) -> str:
        return f"{self.path}: insert {self.template} before {self.anchor}"


@dataclass(frozen=True, kw_only=True)
class Replace(Edit):
    """Rewrite an existing item (with its leading comment) as ours.

    `shape`, when given, is a regex the item's current prototype must match,
    so that a changed signature is reported instead of silently replaced.
    """

    anchor: Anchor
    shape: str | None = None

    def apply(self, src: str, text: str) -> Applied:
        item = self._find(src, self.anchor)
        if self.shape and item.kind is Kind.FUNCTION:
            proto = cedit.prototype(src, item)
            if not re.search(self.shape, proto):
                raise AnchorError(
                    f"anchor {self.anchor} in {self.path} has changed shape: "
                    f"expected /{self.shape}/, found '{proto}'")
        return Applied(*cedit.replace(src, item, text))

    def describe(self) -> str:
        return f"{self.path}: rewrite {self.anchor} as {self.template}"


@dataclass(frozen=True, kw_only=True)
class Hook(Edit):
    """A few lines inside an existing function, next to one anchor line.

    `match` must match exactly one line of the function; `where` is
    "after", "before" or "replace".
    """

    function: str
    match: str
    where: str = "after"

    def apply(self, src: str, text: str) -> Applied:
        item = self._find(src, fn(self.function))
        first, lines = cedit.body_lines(src, item)
        hits = [k for k, line in enumerate(lines) if re.search(self.match, line)]
        if len(hits) != 1:
            raise AnchorError(
                f"anchor line /{self.match}/ matches {len(hits)} lines of "
                f"function '{self.function}' in {self.path}, expected 1")
        k = hits[0]
        pos = first + sum(len(x) for x in lines[:k])
        end = pos + len(lines[k])
        if self.where == "before":
            return Applied(src[:pos] + text + src[pos:], pos)
        if self.where == "after":
            return Applied(src[:end] + text + src[end:], end)
        return Applied(src[:pos] + text + src[end:], pos)

    def describe(self) -> str:
        return (f"{self.path}: {self.template} {self.where} /{self.match}/ "
                f"in {self.function}()")


@dataclass(frozen=True, kw_only=True)
class NewFile(Edit):
    def apply(self, src: str, text: str) -> Applied:
        if src:
            raise AnchorError(f"{self.path} already exists in this tree")
        return Applied(text, 0)

    def describe(self) -> str:
        return f"{self.path}: new file from {self.template}"


@dataclass(frozen=True, kw_only=True)
class TextAfter(Edit):
    """Insert text after the block that starts with the line matching
    `match` in a non-C file (Kconfig, Makefile, documentation); the block
    ends at the next blank line."""

    match: str

    def apply(self, src: str, text: str) -> Applied:
        hits = [m.start() for m in re.finditer(self.match, src, re.M)]
        if len(hits) != 1:
            raise AnchorError(f"anchor /{self.match}/ matches {len(hits)} places in "
                              f"{self.path}, expected 1")
        end = src.find("\n\n", hits[0])
        pos = len(src) if end < 0 else end + 1
        return Applied(src[:pos] + "\n" + text + src[pos:], pos + 1)

    def describe(self) -> str:
        return f"{self.path}: insert {self.template} after the block /{self.match}/"


@dataclass(frozen=True)
class Patch:
    """One commit of the series."""

    slug: str  # stable name, used by changelogs across rerolls
    subject: str
    message: str  # template of the commit message body
    edits: tuple[Edit, ...]
    kconfig: tuple[str, ...] = ()  # options this patch adds, for the ladder
    applies: Callable[[Baseline], bool] = field(default=lambda _b: True)


@dataclass(frozen=True)
class BootOption:
    """A runtime switch the series adds, booted both ways by the ladder."""

    name: str
    on: str  # Xen command line that turns it on ("" when on by default)
    off: str  # Xen command line that turns it off
    expect: tuple[tuple[str, str], ...] = ()  # (name, regex) a boot with it on prints


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str  # one line, for `gen list`
    title: str  # the cover letter's subject
    patches: tuple[Patch, ...]
    boot_options: tuple[BootOption, ...] = ()

    def for_baseline(self, baseline: Baseline) -> tuple[Patch, ...]:
        return tuple(p for p in self.patches if p.applies(baseline))

    @property
    def kconfig(self) -> tuple[str, ...]:
        return tuple(opt for p in self.patches for opt in p.kconfig)
