"""The guest stage can fail: a hypervisor that leaks a xenheap page for
every domain it creates, built from the unpatched baseline with a
test-only patch (templates/c/leak, like the bench's trace patch), cycles
its guests as well as any, and the leak check catches the pages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import git

from gen import baseline, boot, build, dom0, guests, splice, toolstack, xentree
from gen.render import Features, Renderer
from gen.series import Hook, Patch, Where

LEAK = Patch(
    slug="leak",
    subject="DEBUG: leak a xenheap page per domain",
    message="msg/trace.txt.j2",
    edits=(Hook(path="xen/common/domain.c", template="c/leak/domain-create.c.j2",
                function="domain_create", where=Where.BEFORE,
                match=r"^\s+if \( \(d = alloc_domain_struct\(\)\) == NULL \)"),),
)


def test_a_hypervisor_that_leaks_a_xenheap_page_per_guest_fails_the_stage(xen_tree, tmp_path):
    cache = xentree.cache_dir()
    repo = xentree.checkout(xen_tree, tmp_path / "xen", "leak")
    root = Path(repo.working_tree_dir or "")
    base = baseline.probe(root)
    hunks = splice.apply_patch(root, LEAK, Renderer({"feat": Features(base.features),
                                                     "baseline": base}), base)
    assert [h.edit.path for h in hunks] == ["xen/common/domain.c"]
    repo.git.add("-A")
    tree = repo.git.write_tree()
    assert tree != git.Repo(xen_tree.repo).commit(xen_tree.baseline).tree.hexsha
    kept = cache / "check" / "builds"
    builder = build.Builder(root, tmp_path / "build", build.BuildConfig("debug", {"DEBUG": "y"}),
                            cache / "ccache", None, kept)
    res = builder.build(tmp_path / "build.log", "build the leaking baseline (debug)", tree)
    assert res.ok and res.binary is not None, res.errors
    plan = guests.Plan(guests=3, cycles=3)
    machine = dom0.assemble(cache, plan, toolstack.for_tree(xen_tree, root, cache, None))
    xen = tmp_path / "xen-leak"
    shutil.copy2(res.binary, xen)
    log = tmp_path / "boot.log"
    result = boot.boot(boot.BootSpec("leak", xen, "", 2, 2048, 300), machine, log)
    text = log.read_text()
    # Everything else about the boot and its guests is fine ...
    out = guests.parse(text)
    assert out.done and out.failure is None and len(out.cycles) == 3, result.reason
    assert result.exit_code == boot.EXIT_OK
    # ... but three pages go for good in every cycle, the last included,
    # and the stage says so.
    assert not result.ok
    m = re.fullmatch(r"guests: leak: Dom heap free kB: (\d+) -> (\d+) after cycle 3",
                     result.reason)
    assert m, result.reason
    assert int(m.group(1)) - int(m.group(2)) >= 3 * 4  # a page per guest, at least
