"""The trace recorder: its debug patch still fits the tree, and its parser
reads what the patch prints."""

import shutil

import git

from gen import baseline, splice, trace
from gen.render import Features, Renderer

LOG = """\
(XEN) GEN-TRACE alloc 12288 64 ffff830000123000 _xzalloc+0xd/0x2c < init_irq_data+0x63/0x14e
(XEN) something else
(XEN) GEN-TRACE free ffff830000123000 3
GEN-DOM0-MARKER: dom0 up
(XEN) GEN-TRACE free ffff830000999000 1
"""


def test_parse_stops_at_the_marker():
    assert trace.parse(LOG) == [
        ["alloc", 12288, 64, "ffff830000123000", "_xzalloc+0xd/0x2c < init_irq_data+0x63/0x14e"],
        ["free", "ffff830000123000", 3],
    ]


def test_trace_patch_applies_cleanly_to_the_tree(xen_tree, tmp_path):
    repo = git.Repo.clone_from(str(xen_tree.repo), str(tmp_path / "xen"), shared=True,
                               no_checkout=True)
    repo.git.checkout("-q", xen_tree.baseline)
    root = tmp_path / "xen"
    base = baseline.probe(root)
    renderer = Renderer({"feat": Features(base.features), "baseline": base})
    hunks = splice.apply_patch(root, trace.TRACE_PATCH, renderer, base)
    assert splice.style_findings(hunks) == []
    text = (root / "xen/common/xmalloc_tlsf.c").read_text()
    assert text.count("GEN-TRACE") == 2
    assert "return xmalloc_whole_pages(size - align + MEM_ALIGN, align);\n" not in text
    shutil.rmtree(root)
