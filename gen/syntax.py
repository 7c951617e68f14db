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

from gen.series import Include, Lines
from gen.splice import Hunk

# Xen's attribute-like words and macros that expand to string literals.
_ATTRIBUTES = ("__init", "__initdata", "__read_mostly", "__ro_after_init", "cf_check",
               "__must_check", "__used", "__maybe_unused", "__iomem", "__force",
               "__always_inline", "noinline", "__cold", "__packed", "__init_or_mask_compr",
               "noreturn", "asmlinkage", "__initconst", "__ro_after_init")
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
#define DEFINE_SPINLOCK(l) int l
#define DECLARE_BITMAP(n, b) unsigned long n[1]
#define DEFINE_PER_CPU(t, n) int n
#define boolean_param(n, v) int __gen_param_##v
#define integer_param(n, v) int __gen_param_##v
#define custom_param(n, f) int __gen_param_##f
#define __initcall(f) int __gen_initcall_##f
#define presmp_initcall(f) int __gen_initcall_##f
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))
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


def parse_problem(text: str, path: str) -> str | None:
    """Why text does not parse as C, or None if it does."""
    text = re.sub(r"^[ \t]*#[ \t]*include\b.*$", "", text, flags=re.M)
    for word in _ATTRIBUTES:
        text = re.sub(rf"\b{word}\b", " ", text)
    try:
        code = _preprocess(text)
    except ValueError as e:
        return str(e)
    typedefs = sorted(set(_TYPEDEF_NAME.findall(code)) | {"size_t"})
    prelude = "".join(f"typedef int {t};\n" for t in typedefs)
    try:
        c_parser.CParser().parse(prelude + code, filename=path)
    except c_parser.ParseError as e:
        return str(e)
    return None


def check_hunk(h: Hunk) -> list[SyntaxProblem]:
    """A hunk inside a function is parsed as statements of its own, or
    failing that (it may open or close a block) as part of the function it
    changed; anything else is parsed as it is."""
    if h.context is not h.text:
        wrapped = "void __gen_hunk(void)\n{\n" + h.text + "\n}\n"
        if parse_problem(wrapped, h.edit.path) is None:
            return []
    problem = parse_problem(h.context, h.edit.path)
    return [SyntaxProblem(h.edit.path, h.line, problem)] if problem else []


def check(hunks: list[Hunk]) -> list[SyntaxProblem]:
    """Parse every C hunk that stands on its own: whole items, and the
    functions that hooks changed.  Lines of other kinds (a comment line, a
    #define, an #include) are left to the build."""
    problems: list[SyntaxProblem] = []
    for h in hunks:
        if h.is_c and h.context.strip() and not isinstance(h.edit, Lines | Include):
            problems += check_hunk(h)
    return problems
