"""The CODING_STYLE checker: clean samples pass, each bad sample fails on
exactly the rule and line it breaks."""

from __future__ import annotations

import pytest

from gen import style

GOOD = """\
/* SPDX-License-Identifier: GPL-2.0-only */

static const struct foo bar = {
    .a = 1,
};

/*
 * A multi-line comment,
 * with a leading star on each line.
 */
static unsigned int count(const unsigned long *map, unsigned int nr)
{
    unsigned int i, n = 0;

    for ( i = 0; i < nr &&
                 map[i]; i++ )
        n += hweight_long(map[i]);

    if ( (n & 1) == 42 )
    {
        n++;
        n--;
    }
    else if ( n )
        n = f(n, "if(x){ // not code");

    do {
        n >>= 1;
    } while ( n );

#ifndef CONFIG_X
    return n; /* trailing comment */
#else
    return 0;
#endif

 out:
    return n;
}
"""


def rules(text: str, new_file: bool = False) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in style.check(text, "t.c", 1, new_file)]


def test_good_sample_is_clean():
    assert rules(GOOD, new_file=True) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("void f(void)\n{\n\tg();\n}\n", [(3, "tab")]),
    ("void f(void)\n{\n    g(); \n}\n", [(3, "trailing-space")]),
    ("int x = " + "1 + " * 20 + "1;\n", [(1, "line-length")]),
    ("// hello\nint x;\n", [(1, "cpp-comment")]),
    ("/* one\n * two\n */\nint x;\n", [(1, "comment-block")]),
    ("/*\n * one\n two\n */\nint x;\n", [(3, "comment-block")]),
    ("/*\n * one */\nint x;\n", [(2, "comment-block")]),
    ("void f(void)\n{\n    if (x)\n        g();\n}\n", [(3, "control-space")]),
    ("void f(void)\n{\n    while ( x)\n        g();\n}\n", [(3, "control-space")]),
    ("void f(void)\n{\n    for( ;; )\n        g();\n}\n", [(3, "control-space")]),
    ("void f(void)\n{\n    if ( x ) {\n        g();\n        h();\n    }\n}\n",
     [(3, "brace")]),
    ("void f(void) {\n    g();\n}\n", [(1, "brace")]),
    ("void f(void)\n{\n    if ( x )\n    {\n        g();\n        h();\n    } else\n"
     "        h();\n}\n", [(7, "brace")]),
    ("void f(void)\n{\n    if ( x )\n    {\n        g();\n    }\n}\n", [(4, "braces")]),
    ("void f(void)\n{\n  g();\n}\n", [(3, "indent")]),
    ("void f(void)\n{\nout:\n    g();\n}\n", [(3, "indent")]),
    ("void f(void)\n{\n    g( x );\n}\n", [(3, "call-space")]),
    ("int* p;\n", [(1, "pointer")]),
    ("int f(void)\n{\n    return(1);\n}\n", [(3, "keyword-space")]),
    ("void f(void)\n{\n    #ifdef X\n}\n", [(3, "indent")]),
])
def test_bad_samples_fail_on_their_rule(text, expected):
    assert rules(text) == expected


def test_new_file_needs_spdx():
    assert rules("int x;\n", new_file=True) == [(1, "spdx")]


def test_lines_are_reported_in_the_target_file():
    (finding,) = style.check("int* p;\n", "xen/common/vmap.c", first_line=120)
    assert str(finding) == ("xen/common/vmap.c:120: pointer: the '*' belongs to the "
                            "name: 'type *name'")


@pytest.mark.parametrize("path,guard", [
    ("xen/arch/x86/include/asm/xenheap-vmap.h", "X86_XENHEAP_VMAP_H"),
    ("xen/arch/x86/include/asm/hvm/foo.h", "X86_HVM_FOO_H"),
    ("xen/include/xen/xenheap.h", "XEN_XENHEAP_H"),
])
def test_new_header_guard(path, guard):
    body = "/* SPDX-License-Identifier: GPL-2.0-only */\n"
    good = body + f"#ifndef {guard}\n#define {guard}\n\n#endif /* {guard} */\n"
    assert style.check(good, path, 1, new_file=True) == []
    bad = good.replace(guard, "ASM_" + guard)
    assert [f.rule for f in style.check(bad, path, 1, new_file=True)] == ["guard"]
    assert style.check(bad, path, 1, new_file=False) == []
