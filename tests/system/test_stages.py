"""The generation stages on the real tree, each a function of the one
before: plan is pure, gate passes or refuses a plan without changing it,
commit writes exactly the plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import git
import pytest

from gen import baseline, pipeline, splice, xentree
from gen.errors import GenError, StyleError
from gen.gitutil import Identity
from gen.variants import VARIANTS

from ..conftest import FIXED_DATE, TEST_EMAIL, TEST_NAME


@pytest.fixture
def checkout(debian_tree, tmp_path) -> git.Repo:
    return xentree.checkout(debian_tree, tmp_path / "xen", "stages")


def planned(repo: git.Repo, variant: str = "split-vmap") -> tuple[pipeline.Planned, ...]:
    root = Path(repo.working_tree_dir or "")
    base = baseline.probe(root)
    return pipeline.plan(VARIANTS[variant], base, VARIANTS[variant].for_baseline(base),
                         lambda rel: splice.read(root / rel))


def test_plan_is_pure_and_commit_writes_exactly_the_plan(checkout):
    plan = planned(checkout)
    assert checkout.git.status("--porcelain") == "", "plan wrote to the checkout"
    assert planned(checkout) == plan
    assert [p.patch.slug for p in plan] == \
        [p.slug for p in VARIANTS["split-vmap"].patches]
    shas = pipeline.commit_series(pipeline.gate(plan), checkout,
                                  Identity(TEST_NAME, TEST_EMAIL), FIXED_DATE)
    assert len(shas) == len(plan) and checkout.git.status("--porcelain") == ""
    root = Path(checkout.working_tree_dir or "")
    for sha, p in zip(shas, plan, strict=True):
        changed = checkout.git.diff_tree("--no-commit-id", "--name-only", "-r", sha).split()
        assert sorted(changed) == sorted(p.files), p.patch.slug
    # Each file ends as the last patch that changed it planned it.
    last = {rel: text for p in plan for rel, text in p.files.items()}
    assert all(splice.read(root / rel) == text for rel, text in last.items())


def test_gate_refuses_a_plan_that_breaks_the_rules(checkout):
    plan = planned(checkout, "no-trim")
    assert pipeline.gate(plan) == plan
    c_hunk = next(k for k, h in enumerate(plan[1].hunks) if h.is_c)
    bad_hunk = dataclasses.replace(plan[1].hunks[c_hunk],
                                   text=plan[1].hunks[c_hunk].text + "if(x) y();\n")
    hunks = list(plan[1].hunks)
    hunks[c_hunk] = bad_hunk
    styled = (plan[0], dataclasses.replace(plan[1], hunks=tuple(hunks)), *plan[2:])
    with pytest.raises(StyleError, match="breaks CODING_STYLE"):
        pipeline.gate(styled)
    long_body = (plan[0], dataclasses.replace(plan[1], body=plan[1].body + "x" * 80 + "\n"),
                 *plan[2:])
    with pytest.raises(GenError, match="columns"):
        pipeline.gate(long_body)
    assert checkout.git.status("--porcelain") == ""
