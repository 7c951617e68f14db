"""Each kind of edit: where it puts its text, and how it refuses; and the
model refusing a misspelt edit when it is built."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from gen import variants
from gen.baseline import FEATURES, Baseline
from gen.errors import AnchorError, GenError
from gen.harness import extract
from gen.render import TEMPLATES
from gen.series import (
    Hook,
    Include,
    InsertAfter,
    InsertBefore,
    Lines,
    NewFile,
    Patch,
    Replace,
    Sub,
    TextAfter,
    Variant,
    Where,
    decl,
    fn,
)

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
    (Where.BEFORE, "    g(x);\n    new();\n    h(x);\n"),
    (Where.AFTER, "    g(x);\n    h(x);\n    new();\n"),
    (Where.REPLACE, "    g(x);\n    new();\n}\n"),
])
def test_hook_lines_inside_a_function(where, expected):
    edit = Hook(path="f.c", template="t", function="f", match=r"^\s+h\(x\);", where=where)
    out = edit.apply(SRC, "new();\n")
    assert expected in out.src
    assert out.src[out.offset:].startswith("    new();\n")


def test_hook_anchor_must_match_once():
    none = Hook(path="f.c", template="t", function="f", match=r"nothere\(")
    with pytest.raises(AnchorError, match=r"/nothere\\\(/ matches 0 times in function 'f'"):
        none.apply(SRC, "")
    two = Hook(path="f.c", template="t", function="f", match=r"\(x\);")
    with pytest.raises(AnchorError, match=r"matches 2 times"):
        two.apply(SRC, "")


def test_new_file_and_text_blocks():
    assert NewFile(path="n.c", template="t").apply("", "x\n").src == "x\n"
    with pytest.raises(AnchorError, match=r"n\.c already exists"):
        NewFile(path="n.c", template="t").apply("old\n", "x\n")
    kconfig = "config A\n\tbool\n\thelp\n\t  One.\n\n\t  Two.\n\nconfig B\n\tbool\n"
    out = TextAfter(path="Kconfig", template="t", match=r"^config A$").apply(kconfig,
                                                                             "config N\n")
    assert out.src == ("config A\n\tbool\n\thelp\n\t  One.\n\n\t  Two.\n\nconfig N\n\n"
                       "config B\n\tbool\n")
    with pytest.raises(AnchorError, match="matches 0 places in Kconfig"):
        TextAfter(path="Kconfig", template="t", match=r"^config Z$").apply(kconfig, "")


def test_hook_anchor_with_leading_white_space_starts_at_its_line():
    src = "void f(void)\n{\n    a();\n\n    b();\n}\n"
    edit = Hook(path="f.c", template="t", function="f", match=r"^\s+b\(\);", where=Where.REPLACE)
    assert edit.apply(src, "c();\n").src == "void f(void)\n{\n    a();\n\n    c();\n}\n"


def test_hook_text_takes_the_anchor_lines_indentation():
    src = "void f(void)\n{\n    if ( x )\n    {\n        g();\n    }\n}\n"
    edit = Hook(path="f.c", template="t", function="f", match=r"g\(\);", where=Where.AFTER)
    out = edit.apply(src, "if ( y )\n    h();\n#ifdef X\nk();\n#endif\n")
    assert "        g();\n        if ( y )\n            h();\n#ifdef X\n        k();\n" \
           "#endif\n    }\n" in out.src
    top = Hook(path="f.c", template="t", function="f", match=r"^\{$", where=Where.AFTER)
    assert "{\n    int v;\n    if ( x )" in top.apply(src, "int v;\n").src


def test_sub_changes_one_line():
    edit = Sub(path="f.c", function="f", pattern=r"g\(x\)", repl="g(x, 0)")
    out = edit.apply(SRC, "")
    assert "    g(x, 0);\n    h(x);\n" in out.src
    with pytest.raises(AnchorError, match=r"matches 0 lines of function 'f'"):
        Sub(path="f.c", function="f", pattern=r"zz", repl="y").apply(SRC, "")


def test_include_goes_in_order_or_last():
    sorted_ = "#include <xen/a.h>\n#include <xen/c.h>\n#include <asm/z.h>\n\nint x;\n"
    out = Include(path="f.c", header="xen/b.h").apply(sorted_, "")
    assert out.src.startswith("#include <xen/a.h>\n#include <xen/b.h>\n#include <xen/c.h>\n")
    unsorted = "#include <xen/c.h>\n#include <xen/a.h>\n#include <asm/z.h>\n"
    out = Include(path="f.c", header="xen/b.h").apply(unsorted, "")
    assert out.src == "#include <xen/c.h>\n#include <xen/a.h>\n#include <xen/b.h>\n" \
                      "#include <asm/z.h>\n"
    with pytest.raises(AnchorError, match="already includes"):
        Include(path="f.c", header="xen/a.h").apply(sorted_, "")


def test_lines_and_growing_files_and_when():
    mk = "obj-y += a.o\nobj-y += b.o\n"
    edit = Lines(path="Makefile", template="t", match=r"^obj-y \+= a\.o$")
    out = edit.apply(mk, "obj-y += n.o\n")
    assert out.src == "obj-y += a.o\nobj-y += n.o\nobj-y += b.o\n"
    with pytest.raises(AnchorError, match="an earlier patch writes it"):
        NewFile(path="n.c", template="t", grows=True).apply("", "x\n")
    assert NewFile(path="n.c", template="t", grows=True).apply("x\n", "y\n").src == "y\n"
    # What a template leaves out until a later patch leaves no blank line
    # at the end of the file (git am --whitespace=error would refuse it).
    assert NewFile(path="n.c", template="t", grows=True).apply("x\n", "y\n\n\n").src == "y\n"
    # A patch that says it rewrites a file must change it.
    with pytest.raises(AnchorError, match="changes nothing in this patch"):
        NewFile(path="n.c", template="t", grows=True).apply("x\n", "x\n\n")
    base = Baseline((4, 99), "", {"vmap_size": True})
    assert Lines(path="m", match="x", when="vmap_size").applies(base)
    assert not Lines(path="m", match="x", when="!vmap_size").applies(base)


def test_an_edit_is_checked_when_it_is_built():
    with pytest.raises(GenError, match=r"where='befor' is not a Where"):
        Lines(path="m", template="t", match="x", where="befor")
    with pytest.raises(GenError, match=r"when='!vmap_sized' names no baseline feature"):
        Hook(path="f.c", template="t", function="f", match="x", when="!vmap_sized")
    with pytest.raises(GenError, match=r"patch p: no template c/nowhere.c.j2"):
        Patch(slug="p", subject="s", message="msg/vmap-partial.txt.j2",
              edits=(Lines(path="m", template="c/nowhere.c.j2", match="x"),))


@pytest.mark.parametrize(("good", "bad", "error"), [
    ("where=Where.BEFORE", 'where="befor"', r"where='befor' is not a Where"),
    ('when="percpu_common"', 'when="percpu_commom"', r"when='percpu_commom' names no"),
    ('template=C + "stack.c.j2"', 'template=C + "stak.c.j2"',
     r"patch xpti-directmap: no template c/xenheap/stak.c.j2"),
])
def test_a_misspelt_variants_module_does_not_import(tmp_path, good, bad, error):
    """variants.py with one word misspelt fails at import, with a GenError
    that names it: never later, on some tree, at render time."""
    src = Path(variants.__file__).read_text()
    assert src.count(good) >= 1
    path = tmp_path / "variants_misspelt.py"
    path.write_text(src.replace(good, bad, 1))
    spec = importlib.util.spec_from_file_location("variants_misspelt", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(GenError, match=error):
        spec.loader.exec_module(module)
    sys.modules.pop("variants_misspelt", None)


def test_every_feature_is_used():
    """A feature that no edit's `when` and no template names is dead."""
    whens = {e.when.removeprefix("!") for v in variants.VARIANTS.values() for p in v.patches
             for e in p.edits if e.when}
    texts = "".join(t.read_text() for t in TEMPLATES.rglob("*.j2"))
    named = set(re.findall(r"\bfeat\.(\w+)", texts))
    harness = set(extract.BASELINE_DEFINES)
    assert {f.name for f in FEATURES} == whens | named | harness


def test_a_body_line_over_75_columns_is_a_problem_unless_it_is_a_fixes_tag():
    from gen.publish import message_problems

    long = "word " * 16
    assert message_problems("xen/vmap: x", long) == ["body line 1 is 80 columns (limit 75)"]
    fixes = 'Fixes: fb034f42648e ("xmalloc: make close-to-PAGE_SIZE allocations more efficient")'
    assert len(fixes) > 75 and message_problems("xen/vmap: x", f"text\n\n{fixes}") == []


def test_every_patch_of_the_fixes_series_names_the_commit_it_fixes():
    for p in variants.FIXES.patches:
        tags = [v for k, v in p.trailers if k == "Fixes"]
        assert len(tags) == 1 and re.fullmatch(r'[0-9a-f]{12} \(".+"\)', tags[0]), p.slug
    assert "fixes" not in variants.VARIANTS  # bench, sweep: the xenheap series only


def test_the_xenheap_series_apply_on_top_of_the_fixes():
    """A reviewer asked for the fixes on their own: no xenheap series
    carries one, each names the fixes series as its prerequisite, and a
    tree with it has the fixes first, then its own patches."""
    for v in variants.VARIANTS.values():
        assert v.prerequisite is variants.FIXES
        assert not {p.slug for p in v.patches} & {p.slug for p in variants.FIXES.patches}
        assert v.stack() == (*variants.FIXES.patches, *v.patches)
    assert variants.FIXES.prerequisite is None


def test_a_patch_in_both_a_series_and_its_prerequisite_is_an_error():
    with pytest.raises(GenError, match="xrealloc-copy also in its prerequisite, fixes"):
        Variant("x", "s", "t", (variants.XREALLOC_COPY,), prerequisite=variants.FIXES)


def test_gen_list_says_what_a_series_applies_on_top_of(capsys):
    from gen.cli import cmd_list

    assert cmd_list([]) == 0
    out = [*capsys.readouterr().out.splitlines(), ""]
    for name, v in variants.SERIES.items():
        at = next(k for k, line in enumerate(out) if line.startswith(f"{name} "))
        said = "(applies on top of the fixes series)" in out[at + 1]
        assert said == (v.prerequisite is not None), name
