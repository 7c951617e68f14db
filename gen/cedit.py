"""C-aware location and splicing of top-level items in Xen sources.

Xen sources cannot be parsed by a C parser without preprocessing them for one
configuration, so this module works from a lexer that knows comments, string
and character literals and preprocessor directives (with continuations), and
a brace-depth scanner that cuts a file into top-level items: function
definitions, declarations, preprocessor lines and free-standing comments.

Spans are byte offsets into the text.  A function's span runs from the start
of the line holding its first declaration token to the end of the line that
holds its closing brace, so removing the span and inserting it again at the
same offset reproduces the file exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gen.errors import AnchorError


class Tok(Enum):
    IDENT = "ident"
    PUNCT = "punct"
    LITERAL = "literal"
    COMMENT = "comment"
    PP = "pp"


@dataclass(frozen=True)
class Token:
    kind: Tok
    text: str
    start: int
    end: int


class Kind(Enum):
    FUNCTION = "function"
    DECLARATION = "declaration"
    MACRO = "macro"
    PREPROCESSOR = "preprocessor"
    COMMENT = "comment"


@dataclass(frozen=True)
class Item:
    """One top-level item of a C file."""

    kind: Kind
    name: str
    start: int  # start of the first line of the item
    end: int  # just past the newline that ends the item's last line
    ext_start: int  # start of an attached leading comment, else `start`
    body_start: int = -1  # offset of a function's opening brace
    cond: tuple[str, ...] = ()  # enclosing #if conditions, outermost first

    def text(self, src: str) -> str:
        return src[self.start:self.end]


# Attribute-like words that may precede a parenthesised group which is not
# the declarator's parameter list.
_ATTRIBUTE_WORDS = frozenset({
    "__attribute__", "__attribute", "__section", "__aligned", "__printf",
    "__scanf", "__nonnull", "__cacheline_aligned", "__alloc_size",
    "__must_be_array", "__designated_init", "asm", "__asm__", "__asm",
    "alignas", "_Alignas", "__typeof__", "typeof",
})

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.'])*")


def tokenize(src: str) -> list[Token]:
    """Split C source into tokens, keeping comments and directives whole."""
    toks: list[Token] = []
    i, n = 0, len(src)
    line_start = True  # only whitespace seen since the last newline
    while i < n:
        c = src[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if c == "\\" and src.startswith("\\\n", i):
            i += 2
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            toks.append(Token(Tok.COMMENT, src[i:j], i, j))
            i = j
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            toks.append(Token(Tok.COMMENT, src[i:j], i, j))
            i = j
            continue
        if c == "#" and line_start:
            j = _directive_end(src, i)
            toks.append(Token(Tok.PP, src[i:j], i, j))
            i = j
            continue
        line_start = False
        if c in "\"'":
            j = _literal_end(src, i)
            toks.append(Token(Tok.LITERAL, src[i:j], i, j))
            i = j
            continue
        m = _IDENT_RE.match(src, i)
        if m:
            # String prefixes: L"..", u8"..", etc.
            if m.end() < n and src[m.end()] in "\"'" and m.group() in ("L", "u", "U", "u8"):
                j = _literal_end(src, m.end())
                toks.append(Token(Tok.LITERAL, src[i:j], i, j))
                i = j
                continue
            toks.append(Token(Tok.IDENT, m.group(), i, m.end()))
            i = m.end()
            continue
        m = _NUMBER_RE.match(src, i)
        if m:
            toks.append(Token(Tok.LITERAL, m.group(), i, m.end()))
            i = m.end()
            continue
        toks.append(Token(Tok.PUNCT, c, i, i + 1))
        i += 1
    return toks


def _literal_end(src: str, i: int) -> int:
    quote = src[i]
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == quote or src[j] == "\n":
            return j + 1
        j += 1
    return j


def _directive_end(src: str, i: int) -> int:
    """End of a preprocessor directive: the newline not escaped by '\\'.

    Comments inside a directive may span lines; they belong to it.
    """
    j, n = i, len(src)
    while j < n:
        if src.startswith("/*", j):
            k = src.find("*/", j + 2)
            j = n if k < 0 else k + 2
            continue
        if src.startswith("//", j):
            k = src.find("\n", j)
            return n if k < 0 else k
        c = src[j]
        if c == "\\" and j + 1 < n and src[j + 1] == "\n":
            j += 2
            continue
        if c in "\"'":
            j = _literal_end(src, j)
            continue
        if c == "\n":
            return j
        j += 1
    return n


def _line_start(src: str, pos: int) -> int:
    return src.rfind("\n", 0, pos) + 1


def _line_end(src: str, pos: int) -> int:
    """Just past the newline ending the line holding pos-1, if only blanks
    follow; otherwise pos itself."""
    j = pos
    while j < len(src) and src[j] in " \t":
        j += 1
    if j < len(src) and src[j] == "\n":
        return j + 1
    if j >= len(src):
        return len(src)
    return pos


def _start_of(src: str, pos: int) -> int:
    """Start of the line holding pos if only blanks precede pos on it."""
    ls = _line_start(src, pos)
    return ls if src[ls:pos].strip() == "" else pos


def _match_close(toks: list[Token], i: int, open_: str, close: str) -> int:
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.kind is Tok.PUNCT:
            if t.text == open_:
                depth += 1
            elif t.text == close:
                depth -= 1
                if depth == 0:
                    return j
    raise AnchorError(f"unbalanced '{open_}' at offset {toks[i].start}")


def _declarator_name(toks: list[Token]) -> str | None:
    """Name of the function declared by toks (up to, not including, '{' or
    ';'), or None if toks do not declare a function."""
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind is Tok.PUNCT and t.text == "=":
            return None
        if t.kind is Tok.PUNCT and t.text == "(":
            close = _match_close(toks, i, "(", ")")
            inner = toks[i + 1:close]
            if inner and inner[0].kind is Tok.PUNCT and inner[0].text == "*":
                # A declarator in brackets, as in 'void (*f(int))(void)'.
                name = _declarator_name(inner[1:])
                if name is not None:
                    return name
            prev = toks[i - 1] if i else None
            if prev is not None and prev.kind is Tok.IDENT and prev.text not in _ATTRIBUTE_WORDS:
                return prev.text
            i = close + 1
            continue
        if t.kind is Tok.PUNCT and t.text in "{[":
            i = _match_close(toks, i, t.text, "}" if t.text == "{" else "]") + 1
            continue
        i += 1
    return None


def _declaration_name(toks: list[Token]) -> str:
    fn = _declarator_name(toks)
    if fn is not None:
        return fn
    last = ""
    depth = 0
    for t in toks:
        if t.kind is Tok.PUNCT:
            if t.text in "([{":
                depth += 1
            elif t.text in ")]}":
                depth -= 1
            elif depth == 0 and t.text in "=;:[,":
                break
        elif t.kind is Tok.IDENT and depth == 0:
            last = t.text
    return last


def _macro_name(directive: str) -> str | None:
    m = re.match(r"#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)", directive)
    return m.group(1) if m else None


def _condition(directive: str) -> tuple[str, str] | None:
    """(verb, condition) of a conditional directive, or None."""
    m = re.match(r"#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)", directive, re.S)
    if not m:
        return None
    expr = re.sub(r"/\*.*?\*/|//.*", "", m.group(2), flags=re.S)
    expr = re.sub(r"\s+", " ", expr.replace("\\\n", " ")).strip()
    expr = re.sub(r"^defined\s*\(?\s*(\w+)\s*\)?$", r"\1", expr)
    return m.group(1), expr


def _negate(expr: str) -> str:
    if re.fullmatch(r"!\w+", expr):
        return expr[1:]
    return "!" + expr if re.fullmatch(r"\w+", expr) else f"!({expr})"


def _track(stack: list[str], directive: str) -> None:
    cond = _condition(directive)
    if cond is None:
        return
    verb, expr = cond
    if verb in ("if", "ifdef"):
        stack.append(expr)
    elif verb == "ifndef":
        stack.append(_negate(expr))
    elif verb in ("else", "elif") and stack:
        stack[-1] = _negate(stack[-1]) if verb == "else" else expr
    elif verb == "endif" and stack:
        stack.pop()


def parse(src: str) -> list[Item]:
    """Cut src into its top-level items, in order."""
    toks = tokenize(src)
    items: list[Item] = []
    cur: list[Token] = []  # tokens of the item being built (no comments)
    stack: list[str] = []  # conditions of the enclosing #if blocks
    i = 0
    while i < len(toks):
        t = toks[i]
        if not cur and t.kind is Tok.COMMENT:
            items.append(Item(Kind.COMMENT, "", _start_of(src, t.start),
                              _line_end(src, t.end), _start_of(src, t.start),
                              cond=tuple(stack)))
            i += 1
            continue
        if not cur and t.kind is Tok.PP:
            name = _macro_name(t.text)
            kind = Kind.MACRO if name else Kind.PREPROCESSOR
            start = _start_of(src, t.start)
            items.append(Item(kind, name or t.text.split()[0], start,
                              _line_end(src, t.end), start, cond=tuple(stack)))
            _track(stack, t.text)
            i += 1
            continue
        if t.kind in (Tok.COMMENT, Tok.PP):
            i += 1
            continue
        if t.kind is Tok.PUNCT and t.text == "{":
            code = [x for x in cur if x.kind is not Tok.COMMENT]
            name = _declarator_name(code) if code else None
            close = _match_close(toks, i, "{", "}")
            if name is not None:
                start = _start_of(src, cur[0].start)
                items.append(Item(Kind.FUNCTION, name, start,
                                  _line_end(src, toks[close].end), start,
                                  body_start=t.start, cond=tuple(stack)))
                cur = []
                i = close + 1
                continue
            cur.extend(toks[i:close + 1])
            i = close + 1
            continue
        cur.append(t)
        if t.kind is Tok.PUNCT and t.text == ";":
            start = _start_of(src, cur[0].start)
            items.append(Item(Kind.DECLARATION, _declaration_name(cur), start,
                              _line_end(src, t.end), start, cond=tuple(stack)))
            cur = []
        i += 1
    if cur:
        raise AnchorError(f"unterminated top-level item at offset {cur[0].start}")
    return _attach_comments(src, items)



def _attach_comments(src: str, items: list[Item]) -> list[Item]:
    """Give each function its leading comment when nothing separates them;
    the comment is then part of the function, not an item of its own."""
    out: list[Item] = []
    for it in items:
        if (it.kind is Kind.FUNCTION and out and out[-1].kind is Kind.COMMENT
                and out[-1].end == it.start):
            comment = out.pop()
            it = Item(it.kind, it.name, it.start, it.end, comment.start, it.body_start,
                      it.cond)
        out.append(it)
    return out


# ---------------------------------------------------------------------------
# Lookup and splicing


def find(src: str, name: str, kind: Kind, path: str = "<source>",
         cond: str | None = None) -> Item:
    """The one top-level item called name of the given kind; with cond, the
    one inside an #if block whose condition is cond (e.g.
    '!CONFIG_SEPARATE_XENHEAP' for the #else branch of an #ifdef).

    Raises AnchorError naming the anchor when it is missing or ambiguous.
    """
    matches = [it for it in parse(src) if it.name == name and it.kind is kind
               and (cond is None or cond in it.cond)]
    where = f" under #if {cond}" if cond else ""
    if not matches:
        raise AnchorError(
            f"anchor {kind.value} '{name}'{where} not found in {path}",
            hint="the tree's code has moved or changed; this baseline is not supported",
        )
    if len(matches) > 1:
        lines = ", ".join(str(src.count("\n", 0, m.start) + 1) for m in matches)
        raise AnchorError(f"anchor {kind.value} '{name}'{where} is ambiguous in {path} "
                          f"(lines {lines})")
    return matches[0]


def prototype(src: str, item: Item) -> str:
    """A function's declaration up to its body, comments and directives
    dropped and white space collapsed."""
    if item.kind is not Kind.FUNCTION:
        raise ValueError("not a function")
    head = src[item.start:item.body_start]
    for t in reversed(tokenize(head)):
        if t.kind in (Tok.COMMENT, Tok.PP):
            head = head[:t.start] + " " + head[t.end:]
    return re.sub(r"\s+", " ", head).strip()


def insert_after(src: str, item: Item, text: str, sep: str = "\n") -> tuple[str, int]:
    """Insert text after item, separated from it by sep (a blank line).

    Returns the new source and the offset where text starts.
    """
    pos = item.end
    return src[:pos] + sep + text + src[pos:], pos + len(sep)


def insert_before(src: str, item: Item, text: str) -> tuple[str, int]:
    """Insert text before item (and its leading comment) plus a blank line."""
    pos = item.ext_start
    return src[:pos] + text + "\n" + src[pos:], pos


def replace(src: str, item: Item, text: str) -> tuple[str, int]:
    """Replace item, leading comment included, by text."""
    return src[:item.ext_start] + text + src[item.end:], item.ext_start


def remove(src: str, item: Item) -> str:
    """Remove item with its leading comment and the blank lines before it."""
    start = item.ext_start
    while start >= 2 and src[start - 2:start] == "\n\n":
        start -= 1
    return src[:start] + src[item.end:]


def body_lines(src: str, item: Item) -> tuple[int, list[str]]:
    """A function's lines from its opening brace line; returns the offset of
    the first line and the lines (with newlines)."""
    first = _line_start(src, item.body_start)
    return first, src[first:item.end].splitlines(keepends=True)
