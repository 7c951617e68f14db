"""The data model: a Variant is a list of Patches, a Patch a list of Edits.

Each kind of edit is one small class that knows how to apply its rendered
text to a file's contents and how to describe itself.  Edits locate their
anchors with cedit, so a moved or reshaped anchor stops generation with an
error that names it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gen import cedit, render
from gen.baseline import FEATURES, Baseline
from gen.cedit import Kind
from gen.errors import AnchorError, GenError

FEATURE_NAMES = frozenset(f.name for f in FEATURES)


class Where(enum.Enum):
    """Where a Hook or Lines puts its text, relative to its anchor line."""

    AFTER = "after"
    BEFORE = "before"
    REPLACE = "replace"


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
    """Where an edit put its text: used to map style findings to file:line.
    `inserted` is the text as it landed, when the edit reshaped it."""

    src: str
    offset: int
    inserted: str | None = None


@dataclass(frozen=True, kw_only=True)
class Edit:
    path: str
    template: str = ""
    # A baseline feature the edit needs ("name"), or must not have
    # ("!name"): the same change, anchored differently in other trees.
    when: str | None = None

    def __post_init__(self) -> None:
        # The model is checked when it is built (variants.py, at import),
        # not when some tree first renders the edit.
        where = getattr(self, "where", Where.AFTER)  # for the edits that have one
        if not isinstance(where, Where):
            raise GenError(f"{self.path}: {self.template or 'an edit'}: where={where!r} is "
                           f"not a Where", hint="use Where.AFTER, Where.BEFORE or Where.REPLACE")
        if self.when is not None and self.when.removeprefix("!") not in FEATURE_NAMES:
            raise GenError(f"{self.describe()}: when={self.when!r} names no baseline "
                           f"feature", hint="known features: " + ", ".join(sorted(FEATURE_NAMES)))

    def applies(self, base: Baseline) -> bool:
        if self.when is None:
            return True
        name = self.when.removeprefix("!")
        return base.has(name) != self.when.startswith("!")

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

    `match` must match exactly one line of the function.
    """

    function: str
    match: str
    where: Where = Where.AFTER
    cond: str | None = None  # the function's #if condition, as for Anchor

    def apply(self, src: str, text: str) -> Applied:
        item = self._find(src, fn(self.function, self.cond))
        first, lines = cedit.body_lines(src, item)
        body = "".join(lines)
        hits = list(re.finditer(self.match, body, re.M))
        if len(hits) != 1:
            raise AnchorError(
                f"anchor /{self.match}/ matches {len(hits)} times in function "
                f"'{self.function}' in {self.path}, expected once")
        m = hits[0]
        # The anchor covers whole lines, from the first matched character's
        # line to the last's; a leading \s may have matched line ends.
        start = m.start()
        while start < m.end() - 1 and body[start] == "\n":
            start += 1
        pos = first + body.rfind("\n", 0, start) + 1
        last = max(m.end() - 1, start)
        end = first + (last + 1 if body[last] == "\n" else body.find("\n", last) + 1)
        # Hook templates are written at the outermost level of a function
        # body; they take the anchor line's indentation (one more level for
        # the opening brace's line).
        anchor = src[pos:end]
        indent = re.match(r"[ \t]*", anchor).group(0)
        if anchor.strip() == "{":
            indent += "    "
        text = "".join(indent + line if line.strip() and not line.startswith("#")
                       else line for line in text.splitlines(keepends=True))
        if self.where is Where.BEFORE:
            return Applied(src[:pos] + text + src[pos:], pos, text)
        if self.where is Where.AFTER:
            return Applied(src[:end] + text + src[end:], end, text)
        return Applied(src[:pos] + text + src[end:], pos, text)

    def describe(self) -> str:
        return (f"{self.path}: {self.template} {self.where.value} /{self.match}/ "
                f"in {self.function}()")


@dataclass(frozen=True, kw_only=True)
class NewFile(Edit):
    """A file of ours.  The first patch that writes it creates it; a later
    patch may write it again from the same template, which then grows with
    the series (it sees which patches are applied through `upto()`)."""

    grows: bool = False  # True for the later patches that rewrite it

    def apply(self, src: str, text: str) -> Applied:
        if src and not self.grows:
            raise AnchorError(f"{self.path} already exists in this tree")
        if not src and self.grows:
            raise AnchorError(f"{self.path} should exist by now: an earlier patch writes it")
        if self.grows and src == text.rstrip("\n") + "\n":
            raise AnchorError(f"{self.path}: {self.template} changes nothing in this patch")
        # Parts the template leaves out until a later patch must not leave a
        # blank line at the end of the file.
        return Applied(text.rstrip("\n") + "\n", 0)

    def describe(self) -> str:
        verb = "rewrite" if self.grows else "new file"
        return f"{self.path}: {verb} from {self.template}"


@dataclass(frozen=True, kw_only=True)
class Lines(Edit):
    """Lines next to the one line of a non-C file (a Makefile, say) that
    matches `match`."""

    match: str
    where: Where = Where.AFTER

    def apply(self, src: str, text: str) -> Applied:
        lines = src.splitlines(keepends=True)
        hits = [k for k, line in enumerate(lines) if re.search(self.match, line)]
        if len(hits) != 1:
            raise AnchorError(f"anchor line /{self.match}/ matches {len(hits)} lines of "
                              f"{self.path}, expected 1")
        pos = sum(len(x) for x in lines[:hits[0]])
        end = pos + len(lines[hits[0]])
        if self.where is Where.BEFORE:
            return Applied(src[:pos] + text + src[pos:], pos)
        if self.where is Where.AFTER:
            return Applied(src[:end] + text + src[end:], end)
        return Applied(src[:pos] + text + src[end:], pos)

    def describe(self) -> str:
        return f"{self.path}: {self.template} {self.where.value} /{self.match}/"


@dataclass(frozen=True, kw_only=True)
class TextAfter(Edit):
    """Insert a block after the block that starts with the line matching
    `match` in a Kconfig-like file: that block runs until the next line
    that starts in column 0."""

    match: str

    def apply(self, src: str, text: str) -> Applied:
        hits = [m.end() for m in re.finditer(self.match, src, re.M)]
        if len(hits) != 1:
            raise AnchorError(f"anchor /{self.match}/ matches {len(hits)} places in "
                              f"{self.path}, expected 1")
        nxt = re.compile(r"^\S", re.M).search(src, hits[0] + 1)
        pos = len(src) if nxt is None else nxt.start()
        sep = "" if src[:pos].endswith("\n\n") else "\n"
        tail = "\n" if nxt is not None else ""
        return Applied(src[:pos] + sep + text + tail + src[pos:], pos + len(sep))

    def describe(self) -> str:
        return f"{self.path}: insert {self.template} after the block /{self.match}/"


@dataclass(frozen=True, kw_only=True)
class Sub(Edit):
    """A regex substitution on the one line of a function that matches
    `pattern`: for a changed argument, where a template would only repeat
    the rest of the line."""

    function: str
    pattern: str
    repl: str

    def apply(self, src: str, text: str) -> Applied:
        item = self._find(src, fn(self.function))
        first, lines = cedit.body_lines(src, item)
        hits = [k for k, line in enumerate(lines) if re.search(self.pattern, line)]
        if len(hits) != 1:
            raise AnchorError(
                f"anchor /{self.pattern}/ matches {len(hits)} lines of function "
                f"'{self.function}' in {self.path}, expected 1")
        pos = first + sum(len(x) for x in lines[:hits[0]])
        new = re.sub(self.pattern, self.repl, lines[hits[0]], count=1)
        return Applied(src[:pos] + new + src[pos + len(lines[hits[0]]):], pos)

    def describe(self) -> str:
        return f"{self.path}: s/{self.pattern}/{self.repl}/ in {self.function}()"


@dataclass(frozen=True, kw_only=True)
class ChangelogEntry(Edit):
    """A bullet at the end of the "### Added" list of CHANGELOG.md's newest
    release, which gets that heading if it has none yet."""

    def apply(self, src: str, text: str) -> Applied:
        top = re.search(r"^## \[.*\n", src, re.M)
        if top is None:
            raise AnchorError(f"{self.path} has no '## [<version>]' section")
        nxt = re.compile(r"^## ", re.M).search(src, top.end())
        end = len(src) if nxt is None else nxt.start()
        added = re.compile(r"^### Added\n", re.M).search(src, top.end(), end)
        if added is None:
            return Applied(src[:end] + "### Added\n" + text + "\n" + src[end:], end)
        # After the last line of the list: before the blank line ending it.
        sub = re.compile(r"^(?:###|\n)", re.M).search(src, added.end(), end)
        pos = end if sub is None else sub.start()
        return Applied(src[:pos] + text + src[pos:], pos)

    def describe(self) -> str:
        return f"{self.path}: {self.template} under 'Added' of the newest release"


@dataclass(frozen=True, kw_only=True)
class Include(Edit):
    """#include <header>, in order among the file's includes of the same
    directory when they are sorted, else after the last of them."""

    header: str

    def apply(self, src: str, text: str) -> Applied:
        line = f"#include <{self.header}>\n"
        if line in src:
            raise AnchorError(f"{self.path} already includes <{self.header}>")
        prefix = self.header.split("/")[0] + "/"
        found = [(m.start(), m.group(1)) for m in
                 re.finditer(r"^#include <([^>]+)>\n", src, re.M)
                 if m.group(1).startswith(prefix)]
        if not found:
            raise AnchorError(f"{self.path} has no #include <{prefix}...> to join")
        names = [n for _, n in found]
        if names == sorted(names):
            later = [pos for pos, n in found if n > self.header]
            if later:
                return Applied(src[:later[0]] + line + src[later[0]:], later[0])
        end = src.index("\n", found[-1][0]) + 1
        return Applied(src[:end] + line + src[end:], end)

    def describe(self) -> str:
        return f"{self.path}: #include <{self.header}>"


@dataclass(frozen=True)
class Patch:
    """One commit of the series."""

    slug: str  # stable name, used by changelogs across rerolls
    subject: str
    message: str  # template of the commit message body
    edits: tuple[Edit, ...]
    kconfig: tuple[str, ...] = ()  # options this patch adds, for the ladder
    kconfig_arches: tuple[str, ...] = ()  # the architectures offering them; () for all
    trailers: tuple[tuple[str, str], ...] = ()  # such as Fixes:, before the user's
    applies: Callable[[Baseline], bool] = field(default=lambda _b: True)

    def __post_init__(self) -> None:
        for template in (self.message, *(e.template for e in self.edits if e.template)):
            if not (render.TEMPLATES / template).is_file():
                raise GenError(f"patch {self.slug}: no template {template} in "
                               f"{render.TEMPLATES}")


@dataclass(frozen=True)
class BootOption:
    """A runtime switch the series adds, booted both ways by the ladder."""

    name: str
    on: str  # Xen command line that turns it on ("" when on by default)
    off: str  # Xen command line that turns it off
    expect: tuple[tuple[str, str], ...] = ()  # (name, regex) a boot with it on prints
    expect_off: tuple[tuple[str, str], ...] = ()  # and with it off


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str  # one line, for `gen list`
    title: str  # the cover letter's subject
    patches: tuple[Patch, ...]
    boot_options: tuple[BootOption, ...] = ()
    independent: bool = False  # each patch stands alone: gen check builds each so
    # A series this one applies on top of, posted on its own: its patches
    # are committed first, and the cover letter names them by
    # prerequisite-patch-id (git format-patch --base).
    prerequisite: Variant | None = None

    def __post_init__(self) -> None:
        if self.prerequisite:
            twice = {p.slug for p in self.patches} & {p.slug for p in self.prerequisite.stack()}
            if twice:
                raise GenError(f"series {self.name}: {', '.join(sorted(twice))} also in "
                               f"its prerequisite, {self.prerequisite.name}")

    def stack(self) -> tuple[Patch, ...]:
        """Every patch a tree with this series has, in the order they
        apply: its prerequisite's, then its own."""
        return (*(self.prerequisite.stack() if self.prerequisite else ()), *self.patches)

    def for_baseline(self, baseline: Baseline) -> tuple[Patch, ...]:
        """The series' own patches on this baseline."""
        return tuple(p for p in self.patches if p.applies(baseline))

    def applied(self, baseline: Baseline) -> tuple[Patch, ...]:
        """stack() on this baseline."""
        return tuple(p for p in self.stack() if p.applies(baseline))

    def kconfig(self, arch: str) -> tuple[str, ...]:
        """The options the series adds that `arch` offers."""
        return tuple(opt for p in self.patches for opt in p.kconfig
                     if not p.kconfig_arches or arch in p.kconfig_arches)
