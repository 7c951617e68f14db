"""gen/harness itself: the cdef, the content-hashed cache, and extra
translation units."""

from __future__ import annotations

import pytest

from gen import harness
from gen.errors import GenError
from gen.variants import SERIES, VARIANTS


def test_the_cdef_declares_what_the_tree_has():
    plain = harness.cdef(())
    assert "h_vmalloc(unsigned long size);" in plain
    assert "h_vmap_size" not in plain and "h_vunmap_partial" not in plain
    both = harness.cdef(("H_HAVE_VMAP_SIZE", "H_HAVE_VUNMAP_PARTIAL"))
    assert "unsigned int h_vmap_size(const void *va);" in both
    assert "int h_vunmap_partial(const void *va, unsigned int nr);" in both


def test_the_features_come_from_the_series_and_the_tree(source):
    variant = SERIES[source.variant] if source.variant else None
    xh = harness.build(source.root, variant)
    defines = xh.spec.defines
    # Its own patches and those of the series it applies on top of.
    assert xh.traits == ({p.slug for p in variant.stack()} if variant else set())
    assert ("H_HAVE_VUNMAP_PARTIAL" in defines) == (source.variant == "split-vmap")
    assert ("H_HAVE_XENHEAP_VMAP" in defines) == (source.variant in VARIANTS)
    text = (source.root / "xen/common/vmap.c").read_text()
    assert ("H_HAVE_VMAP_SIZE" in defines) == ("unsigned int vmap_size(" in text)


def test_modules_are_built_once_and_named_by_content(xen_root):
    first = harness.build(xen_root)
    so = harness.module_path(first.spec)
    built = so.stat().st_mtime_ns
    again = harness.build(xen_root)
    assert again.lib is first.lib and so.stat().st_mtime_ns == built
    extra = harness.build(xen_root, extra_sources=["#include <xen/mm.h>\n"
                                     "unsigned long extra_frames(void);\n"
                                     "unsigned long extra_frames(void)\n"
                                     "{\n    return shim_nr_frames;\n}\n"])
    assert harness.module_path(extra.spec) != so and extra.lib is not first.lib


def test_an_extra_unit_that_does_not_compile_is_an_error(xen_root):
    with pytest.raises(GenError, match="does not build"):
        harness.build(xen_root, extra_sources=["#include <xen/mm.h>\n"
                                               "int broken(void) { return nope; }\n"])


def test_a_series_the_tree_does_not_bear_out_is_an_error(xen_root):
    """The build follows the series' declared traits, and checks them."""
    with pytest.raises(GenError, match=r"does not match its series: patch vmap-aligned is "
                                       r"in it, but the tree lacks vm_hint in "):
        harness.build(xen_root, SERIES["no-trim"])
