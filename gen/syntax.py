"""The syntax gate: every rendered C hunk must parse with pycparser.

A hunk is Xen code out of context: it uses Xen's typedefs, attributes and
macros.  We preprocess it with gcc (one configuration: whatever #ifdefs the
hunk has take their default branch), declare every `*_t` name it uses as a
typedef, blank out attributes, and wrap statement-level hooks in a function.
This catches what rendering can break (an unbalanced brace, a missing
semicolon, a half-rendered expression) long before a Xen build would.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from pycparser import c_parser

from gen.series import Hook
from gen.splice import Hunk

# Xen's attribute-like words and macros that expand to string literals.
_ATTRIBUTES = ("__init", "__initdata", "__read_mostly", "__ro_after_init", "cf_check",
               "__must_check", "__used", "__maybe_unused", "__iomem", "__force",
               "__always_inline", "noinline", "__cold", "__packed", "__init_or_mask_compr")
_PRELUDE = """\
#define __attribute__(x)
#define XENLOG_ERR "<0>"
#define XENLOG_WARNING "<1>"
#define XENLOG_INFO "<2>"
#define XENLOG_DEBUG "<3>"
#define XENLOG_G_ERR "<0>"
#define XENLOG_G_WARNING "<1>"
#define XENLOG_G_INFO "<2>"
#define PRI_mfn "lx"
#define PRI_pfn "lx"
#define PRIpaddr "lx"
#define bool _Bool
#define true 1
#define false 0
#define NULL ((void *)0)
"""
_TYPEDEF_NAME = re.compile(r"\b([a-z_][a-z0-9_]*_t)\b")


@dataclass(frozen=True)
class SyntaxProblem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: syntax: {self.message}"


def _preprocess(text: str) -> str:
    res = subprocess.run(["gcc", "-E", "-P", "-x", "c", "-"], input=_PRELUDE + text,
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise ValueError(res.stderr.strip().splitlines()[-1] if res.stderr else "cpp failed")
    return res.stdout


def check_hunk(h: Hunk) -> list[SyntaxProblem]:
    text = h.text
    if isinstance(h.edit, Hook):
        text = "void __gen_hook(void)\n{\n" + text + "\n}\n"
    for word in _ATTRIBUTES:
        text = re.sub(rf"\b{word}\b", " ", text)
    try:
        code = _preprocess(text)
    except ValueError as e:
        return [SyntaxProblem(h.edit.path, h.line, str(e))]
    typedefs = sorted(set(_TYPEDEF_NAME.findall(code)) | {"size_t"})
    prelude = "".join(f"typedef int {t};\n" for t in typedefs)
    try:
        c_parser.CParser().parse(prelude + code, filename=h.edit.path)
    except c_parser.ParseError as e:
        return [SyntaxProblem(h.edit.path, h.line, str(e))]
    return []


def check(hunks: list[Hunk]) -> list[SyntaxProblem]:
    problems: list[SyntaxProblem] = []
    for h in hunks:
        if h.is_c:
            problems += check_hunk(h)
    return problems
