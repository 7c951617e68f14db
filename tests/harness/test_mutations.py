"""The stateful test must catch a broken vunmap_partial().

Each mutation edits vunmap_partial() of the patched tree's vmap.c in a
scratch tree (the rest of the tree is the patched one), the harness is
built from it, and the state machine must fail within a bounded, seeded
search.  To watch a mutant being caught, run the printed command with -s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from gen import cedit, harness
from gen.cedit import Kind

from .machine import machine_for

MUTATIONS = {
    # Leave vm_low where it was, so a freed hole below it is never reused.
    "vm_low-not-lowered": ("if ( bit < vm_low[type] )", "if ( 0 )"),
    # Clear the bit after the range too: one bit too many.
    "one-bit-too-many": ("bit < end; bit++", "bit <= end; bit++"),
}

SEARCH = settings(settings.get_profile("ci"), max_examples=100, stateful_step_count=40,
                  derandomize=True, report_multiple_bugs=False)


def mutant_tree(root: Path, dest: Path, old: str, new: str) -> Path:
    """A tree whose files are root's, but for a mutated vmap.c."""
    vmap = root / "xen" / "common" / "vmap.c"
    src = vmap.read_text()
    item = cedit.find(src, "vunmap_partial", Kind.FUNCTION, str(vmap))
    body = item.text(src)
    assert body.count(old) == 1, f"the mutation no longer applies: {old!r}"
    for top in root.iterdir():
        if top.name not in ("xen", ".git"):
            (dest / top.name).parent.mkdir(parents=True, exist_ok=True)
            (dest / top.name).symlink_to(top)
    for sub in (root / "xen").iterdir():
        if sub.name != "common":
            (dest / "xen").mkdir(parents=True, exist_ok=True)
            (dest / "xen" / sub.name).symlink_to(sub)
    common = dest / "xen" / "common"
    common.mkdir(parents=True)
    for f in (root / "xen" / "common").iterdir():
        if f.name != "vmap.c":
            (common / f.name).symlink_to(f)
    (common / "vmap.c").write_text(src[:item.start] + body.replace(old, new) + src[item.end:])
    return dest


def test_unmutated_passes_the_same_search(source, xh):
    """The control for the mutants: the same search finds nothing."""
    run_state_machine_as_test(machine_for(xh), settings=SEARCH)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutant_is_caught(source, mutation, tmp_path, request):
    if source.variant != "split-vmap":
        pytest.skip("the mutations edit vunmap_partial(), which only split-vmap adds")
    tree = mutant_tree(source.root, tmp_path / "xen", *MUTATIONS[mutation])
    xh = harness.build(tree)
    assert xh.has("vunmap_partial")
    with pytest.raises((AssertionError, harness.XenTrap)) as caught:
        run_state_machine_as_test(machine_for(xh), settings=SEARCH)
    print(f"mutant {mutation} caught: {caught.value}")
    print("\n".join(getattr(caught.value, "__notes__", [])))
    print(f"reproduce: python3 -m pytest '{request.node.nodeid}' -s")
