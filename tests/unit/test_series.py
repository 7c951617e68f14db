"""Each kind of edit: where it puts its text, and how it refuses."""

import pytest

from gen.errors import AnchorError
from gen.series import Hook, InsertAfter, InsertBefore, NewFile, Replace, TextAfter, decl, fn

SRC = """\
static int a;

/* About f. */
void f(int x)
{
    g(x);
    h(x);
}

void k(void)
{
}
"""


def test_insert_after_and_before():
    out = InsertAfter(path="f.c", template="t", anchor=fn("f")).apply(SRC, "void n(void)\n{\n}\n")
    assert "    h(x);\n}\n\nvoid n(void)\n{\n}\n\nvoid k(void)" in out.src
    assert out.src[out.offset:].startswith("void n(void)")
    out = InsertBefore(path="f.c", template="t", anchor=fn("f")).apply(SRC, "int b;\n")
    assert "static int a;\n\nint b;\n\n/* About f. */\nvoid f" in out.src
    out = InsertAfter(path="f.c", template="t", anchor=decl("a")).apply(SRC, "int b;\n")
    assert out.src.startswith("static int a;\n\nint b;\n\n/* About f. */")


def test_replace_takes_the_leading_comment_and_checks_shape():
    edit = Replace(path="f.c", template="t", anchor=fn("f"), shape=r"void f\(int x\)")
    out = edit.apply(SRC, "void f(long x)\n{\n}\n")
    assert "/* About f. */" not in out.src and "void f(long x)" in out.src
    bad = Replace(path="f.c", template="t", anchor=fn("f"), shape=r"void f\(void\)")
    with pytest.raises(AnchorError, match=r"function 'f' in f.c has changed shape: "
                                          r".*found 'void f\(int x\)'"):
        bad.apply(SRC, "")


@pytest.mark.parametrize(("where", "expected"), [
    ("before", "    g(x);\n    new();\n    h(x);\n"),
    ("after", "    g(x);\n    h(x);\n    new();\n"),
    ("replace", "    g(x);\n    new();\n}\n"),
])
def test_hook_lines_inside_a_function(where, expected):
    edit = Hook(path="f.c", template="t", function="f", match=r"^\s+h\(x\);", where=where)
    out = edit.apply(SRC, "    new();\n")
    assert expected in out.src
    assert out.src[out.offset:].startswith("    new();\n")


def test_hook_anchor_must_match_once():
    none = Hook(path="f.c", template="t", function="f", match=r"nothere\(")
    with pytest.raises(AnchorError, match=r"/nothere\\\(/ matches 0 lines of function 'f'"):
        none.apply(SRC, "")
    two = Hook(path="f.c", template="t", function="f", match=r"\(x\);")
    with pytest.raises(AnchorError, match=r"matches 2 lines"):
        two.apply(SRC, "")


def test_new_file_and_text_blocks():
    assert NewFile(path="n.c", template="t").apply("", "x\n").src == "x\n"
    with pytest.raises(AnchorError, match=r"n\.c already exists"):
        NewFile(path="n.c", template="t").apply("old\n", "x\n")
    kconfig = "config A\n\tbool\n\nconfig B\n\tbool\n"
    out = TextAfter(path="Kconfig", template="t", match=r"^config A$").apply(kconfig,
                                                                             "config N\n")
    assert out.src == "config A\n\tbool\n\nconfig N\n\nconfig B\n\tbool\n"
    with pytest.raises(AnchorError, match="matches 0 places in Kconfig"):
        TextAfter(path="Kconfig", template="t", match=r"^config Z$").apply(kconfig, "")
