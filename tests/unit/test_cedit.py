"""cedit: exact locating and splicing, on tricky snippets and on every
top-level function of the real vmap.c, xmalloc_tlsf.c and page_alloc.c."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gen import cedit
from gen.cedit import Kind
from gen.errors import AnchorError

REAL_FILES = ("xen/common/vmap.c", "xen/common/xmalloc_tlsf.c", "xen/common/page_alloc.c")

TRICKY = r'''/* A comment with a { brace and a "string */
#define OPEN {
#define LONG(x) do { \
    f(x); \
} while ( 0 )

static const char *s = "}{ /* not a comment */";
static char c = '{';

struct pair { int a, b; };
static struct pair p = { 1, 2 };

/*
 * Leading comment, attached.
 */
static void __init __attribute__((noreturn))
first(int (*cb)(int), const char *fmt, ...)
{
    if ( cb )
    {
        /* } inside a comment */
        printk("{");
    }
#ifdef CONFIG_X
    cb('}');
#endif
}

int
second(void) { return '"'; }
// trailing C++ comment with a { brace
unsigned long __read_mostly third[4] = { [0] = 1 };
void (*fourth(void))(void)
{
    return 0;
}
'''


def names(src: str, kind: Kind) -> list[str]:
    return [it.name for it in cedit.parse(src) if it.kind is kind]


def test_tricky_functions_are_found_exactly():
    assert names(TRICKY, Kind.FUNCTION) == ["first", "second", "fourth"]
    first = cedit.find(TRICKY, "first", Kind.FUNCTION)
    text = TRICKY[first.ext_start:first.end]
    assert text.startswith("/*\n * Leading comment, attached.")
    assert first.text(TRICKY).startswith("static void __init __attribute__((noreturn))\n")
    assert text.endswith("#endif\n}\n")
    second = cedit.find(TRICKY, "second", Kind.FUNCTION)
    assert second.text(TRICKY) == "int\nsecond(void) { return '\"'; }\n"


def test_tricky_declarations_and_macros():
    assert names(TRICKY, Kind.MACRO) == ["OPEN", "LONG"]
    assert names(TRICKY, Kind.DECLARATION) == ["s", "c", "pair", "p", "third"]


def test_prototype_is_normalised():
    item = cedit.find(TRICKY, "first", Kind.FUNCTION)
    assert cedit.prototype(TRICKY, item) == (
        "static void __init __attribute__((noreturn)) first(int (*cb)(int), "
        "const char *fmt, ...)")
    with_pp = "int\n#ifdef X\nf(int a) /* one */\n#else\nf(long a)\n#endif\n{\n}\n"
    assert cedit.prototype(with_pp, cedit.find(with_pp, "f", Kind.FUNCTION)) == \
        "int f(int a) f(long a)"


def test_missing_and_ambiguous_anchors_name_themselves():
    with pytest.raises(AnchorError, match=r"anchor function 'nothere' not found in f\.c"):
        cedit.find(TRICKY, "nothere", Kind.FUNCTION, "f.c")
    twice = "void a(void)\n{\n}\n\nvoid a(void)\n{\n}\n"
    with pytest.raises(AnchorError, match=r"'a' is ambiguous in f.c \(lines 1, 5\)"):
        cedit.find(twice, "a", Kind.FUNCTION, "f.c")


def test_insert_replace_remove():
    src = "int a;\n\nvoid f(void)\n{\n}\n\nvoid g(void)\n{\n}\n"
    f = cedit.find(src, "f", Kind.FUNCTION)
    out, pos = cedit.insert_after(src, f, "void h(void)\n{\n}\n")
    assert out == "int a;\n\nvoid f(void)\n{\n}\n\nvoid h(void)\n{\n}\n\nvoid g(void)\n{\n}\n"
    assert out[pos:].startswith("void h")
    out, _ = cedit.replace(src, f, "void f(int x)\n{\n}\n")
    assert "void f(int x)" in out and "void f(void)" not in out
    assert cedit.remove(src, f) == "int a;\n\nvoid g(void)\n{\n}\n"


def test_conditions_pick_one_of_two_definitions():
    src = ("#ifdef CONFIG_A\nvoid f(void)\n{\n}\n#else /* !CONFIG_A */\n"
           "void f(void)\n{\n    g();\n}\n#endif\n")
    with pytest.raises(AnchorError, match="ambiguous"):
        cedit.find(src, "f", Kind.FUNCTION)
    assert "g();" in cedit.find(src, "f", Kind.FUNCTION, cond="!CONFIG_A").text(src)
    assert "g();" not in cedit.find(src, "f", Kind.FUNCTION, cond="CONFIG_A").text(src)
    with pytest.raises(AnchorError, match="under #if CONFIG_B not found"):
        cedit.find(src, "f", Kind.FUNCTION, cond="CONFIG_B")


def test_unbalanced_source_is_an_error():
    with pytest.raises(AnchorError):
        cedit.parse("void f(void)\n{\n")


# ---------------------------------------------------------------------------
# The real files of the tree under test


def ctags_functions(path: Path) -> list[tuple[str, int, int]]:
    out = subprocess.run(["ctags", "--output-format=json", "--fields=+ne", "--kinds-C=f",
                          "-o", "-", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return sorted((d["name"], d["line"], d["end"]) for d in map(json.loads, out.splitlines())
                  if d.get("kind") == "function")


def line_of(src: str, offset: int) -> int:
    return src.count("\n", 0, offset) + 1


@pytest.mark.skipif(shutil.which("ctags") is None, reason="needs universal-ctags")
@pytest.mark.parametrize("rel", REAL_FILES)
def test_real_functions_match_ctags(xen_root, rel):
    """ctags is an independent oracle: the same functions, the same last
    line, and ctags' line (the name's) inside our span's head."""
    path = xen_root / rel
    src = path.read_text()
    ours = sorted(((it.name, it) for it in cedit.parse(src) if it.kind is Kind.FUNCTION),
                  key=lambda x: (x[0], x[1].start))
    theirs = ctags_functions(path)
    assert [n for n, _ in ours] == [n for n, _, _ in theirs]
    for (name, it), (_n, line, end) in zip(ours, theirs, strict=True):
        assert line_of(src, it.start) <= line <= line_of(src, it.body_start), name
        assert line_of(src, it.end - 1) == end, name
        text = it.text(src)
        assert text.rstrip("\n").endswith("}"), name
        assert it.start == 0 or src[it.start - 1] == "\n", name


@pytest.mark.parametrize("rel", REAL_FILES)
def test_real_functions_remove_and_reinsert_byte_for_byte(xen_root, rel):
    src = (xen_root / rel).read_text()
    items = cedit.parse(src)
    functions = [k for k, it in enumerate(items) if it.kind is Kind.FUNCTION]
    assert len(functions) >= 10
    for k in functions:
        it = items[k]
        text = src[it.ext_start:it.end]
        without = cedit.remove(src, it)
        assert without.count(text) == src.count(text) - 1
        assert len(names(without, Kind.FUNCTION)) == len(functions) - 1
        if k == 0:
            assert src == text + without
            continue
        prev = items[k - 1]
        gap = src[prev.end:it.ext_start]
        assert gap.strip() == "", f"{it.name}: non-blank text before it"
        anchor = [x for x in cedit.parse(without)
                  if x.kind is prev.kind and x.name == prev.name and x.start == prev.start]
        assert len(anchor) == 1, it.name
        back, pos = cedit.insert_after(without, anchor[0], text, sep=gap)
        assert back == src, f"{rel}: {it.name} did not round-trip"
        assert back[pos:].startswith(text)
