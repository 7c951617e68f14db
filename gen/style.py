"""A checker for Xen's CODING_STYLE, run on the C the templates render.

Xen has no checkpatch and no clang-format configuration, so this is the
only style gate.  It checks what CODING_STYLE states and what reviewers
point out most: indentation, spaces in control statements, brace
placement, braces around single statements, comment layout, C++ comments,
line length, tabs, trailing white space and the SPDX line of new files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gen.cedit import Tok, tokenize

MAX_COLUMNS = 79  # "less than 80 characters"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def _mask(text: str) -> tuple[str, set[int], set[int], list[tuple[int, int, str]]]:
    """Blank out literals and comments (keeping newlines), and note the
    lines that belong to preprocessor directives and the comments."""
    chars = list(text)
    pp_lines: set[int] = set()
    pp_starts: set[int] = set()
    comments: list[tuple[int, int, str]] = []
    for tok in tokenize(text):
        if tok.kind is Tok.LITERAL and tok.text[:1] in "\"'LuU":
            for k in range(tok.start + 1, tok.end - 1):
                if chars[k] != "\n":
                    chars[k] = " "
        elif tok.kind is Tok.COMMENT:
            comments.append((tok.start, tok.end, tok.text))
            for k in range(tok.start, tok.end):
                if chars[k] != "\n":
                    chars[k] = " "
        elif tok.kind is Tok.PP:
            first = text.count("\n", 0, tok.start)
            pp_lines.update(range(first, first + tok.text.count("\n") + 1))
            pp_starts.add(first)
    return "".join(chars), pp_lines, pp_starts, comments


_CONTROL = re.compile(r"\b(if|for|while|switch)\s*\(")
_CALL_INNER_SPACE = re.compile(r"\b(?!(?:if|for|while|switch|return|sizeof)\b)"
                               r"[A-Za-z_]\w*\(\s+\S")
_POINTER_STAR = re.compile(r"\b(?:char|short|int|long|void|bool|unsigned|signed|"
                           r"[a-z_][a-z0-9_]*_t|struct\s+\w+)\*[ \t]+\w")
_LABEL = re.compile(r"^\s*[A-Za-z_]\w*:\s*$")
_BRACE_OK = re.compile(r"(\b(?:struct|union|enum)\b[^;()]*\{\s*$)|(=\s*\{)|(\bdo\s*\{)|"
                       r"(\)\{)|(\{.*\})|(^\s*\{\s*$)")


def check(text: str, path: str, first_line: int = 1, new_file: bool = False) -> list[Finding]:
    """Check C text; line numbers are reported from first_line."""
    findings: list[Finding] = []

    def add(idx: int, rule: str, msg: str) -> None:
        findings.append(Finding(path, first_line + idx, rule, msg))

    masked, pp_lines, pp_starts, comments = _mask(text)
    raw_lines = text.split("\n")
    lines = masked.split("\n")

    if new_file and not re.match(r"/\* SPDX-License-Identifier: [\w.+-]+ \*/$",
                                 raw_lines[0] if raw_lines else ""):
        add(0, "spdx", "a new file starts with a single-line SPDX comment")

    if new_file and path.endswith(".h"):
        _check_guard(raw_lines, path, add)

    for idx, raw in enumerate(raw_lines):
        if "\t" in raw:
            add(idx, "tab", "indent with spaces, never tabs")
        if raw.rstrip() != raw:
            add(idx, "trailing-space", "trailing white space")
        if len(raw) > MAX_COLUMNS:
            add(idx, "line-length", f"line is {len(raw)} columns, limit is {MAX_COLUMNS}")

    _check_comments(text, comments, add)
    _check_code(lines, pp_lines, pp_starts, add)
    _check_control(masked, add)
    _check_single_statement_blocks(lines, add)
    return sorted(findings, key=lambda f: (f.line, f.rule))


def guard_name(path: str) -> str:
    """CODING_STYLE's inclusion guard for a header: XEN_<name>_H for
    include/xen/, <arch>_<name>_H for arch/<arch>/include/asm/."""
    m = re.search(r"(?:^|/)arch/(\w+)/include/asm/(.+)\.h$", path)
    if m:
        name = f"{m.group(1)}_{m.group(2)}"
    else:
        m = re.search(r"(?:^|/)include/xen/(.+)\.h$", path)
        name = f"XEN_{m.group(1)}" if m else path.rsplit("/", 1)[-1][:-2]
    return re.sub(r"\W", "_", name).upper() + "_H"


def _check_guard(raw_lines: list[str], path: str, add) -> None:
    want = guard_name(path)
    code = [(k, ln) for k, ln in enumerate(raw_lines) if ln.startswith("#")]
    if len(code) < 2 or code[0][1] != f"#ifndef {want}" or code[1][1] != f"#define {want}":
        add(code[0][0] if code else 0, "guard",
            f"a new header is guarded by #ifndef {want} / #define {want}")


def _check_comments(text: str, comments: list[tuple[int, int, str]], add) -> None:
    for start, _end, body in comments:
        idx = text.count("\n", 0, start)
        if body.startswith("//"):
            add(idx, "cpp-comment", "use /* */ comments only")
            continue
        if "\n" not in body:
            continue
        parts = body.split("\n")
        if not re.fullmatch(r"/\*+", parts[0].strip()):
            add(idx, "comment-block", "a multi-line comment starts with '/*' on its own line")
        if parts[-1].strip() != "*/":
            add(idx + len(parts) - 1, "comment-block",
                "a multi-line comment ends with ' */' on its own line")
        for k, mid in enumerate(parts[1:-1], start=1):
            stripped = mid.strip()
            if not (stripped == "*" or stripped.startswith("* ")):
                add(idx + k, "comment-block", "each comment line starts with ' * '")


def _check_code(lines: list[str], pp_lines: set[int], pp_starts: set[int], add) -> None:
    prev_code = ";"  # last code line's final character, for continuations
    parens = 0  # unclosed '(' at the start of the line: a continuation
    for idx, line in enumerate(lines):
        stripped = line.strip()
        depth_here = parens
        if idx not in pp_lines:
            parens = max(0, parens + line.count("(") - line.count(")"))
        if idx in pp_lines:
            if idx in pp_starts and not line.startswith("#"):
                add(idx, "indent", "preprocessor directives start in column 0")
            continue
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip(" "))
        starts_statement = depth_here == 0 and prev_code in ";{}:"
        if _LABEL.match(line) and not stripped.startswith(("default", "case")):
            if indent < 1:
                add(idx, "indent", "indent labels by at least one space")
        elif starts_statement and indent % 4 and not stripped.startswith(("*", "}")):
            add(idx, "indent", f"indent by multiples of four spaces (found {indent})")
        if "{" in stripped and not _BRACE_OK.search(line):
            add(idx, "brace", "an opening brace goes on a line of its own")
        if re.match(r"\}\s*else\b", stripped):
            add(idx, "brace", "'else' goes on the line after the closing brace")
        if _CALL_INNER_SPACE.search(line):
            add(idx, "call-space", "no space after '(' in a function call")
        if _POINTER_STAR.search(line):
            add(idx, "pointer", "the '*' belongs to the name: 'type *name'")
        if re.search(r"\breturn\(", line):
            add(idx, "keyword-space", "'return' is followed by a space")
        prev_code = stripped[-1]


def _check_control(masked: str, add) -> None:
    for m in _CONTROL.finditer(masked):
        open_ = m.end() - 1
        idx = masked.count("\n", 0, m.start())
        keyword = m.group(1)
        if masked[m.start() + len(keyword)] != " " or m.end() - m.start() != len(keyword) + 2:
            add(idx, "control-space", f"write '{keyword} ( ... )': one space before '('")
            continue
        depth, close = 0, -1
        for k in range(open_, len(masked)):
            if masked[k] == "(":
                depth += 1
            elif masked[k] == ")":
                depth -= 1
                if depth == 0:
                    close = k
                    break
        if close < 0:
            continue
        if masked[open_ + 1] not in " \n" or masked[close - 1] not in " \n":
            add(idx, "control-space", f"write '{keyword} ( ... )': spaces inside the brackets")


def _check_single_statement_blocks(lines: list[str], add) -> None:
    """'if ( x )' / for / while followed by a braced block of one
    single-line statement, with no else on either side."""
    for idx in range(len(lines) - 3):
        head, open_, body, close = (lines[idx + k].strip() for k in range(4))
        if not re.match(r"(else\s+)?(if|for|while)\b.*\)$", head) or head.startswith("else"):
            continue
        if open_ != "{" or close != "}" or not body.endswith(";") or "{" in body:
            continue
        after = lines[idx + 4].strip() if idx + 4 < len(lines) else ""
        before = lines[idx - 1].strip() if idx else ""
        if after.startswith("else") or (before == "}" and head.startswith("if")):
            continue
        add(idx + 1, "braces", "omit braces around a single statement")
