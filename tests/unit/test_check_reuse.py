"""What lets `gen check` reuse an earlier harness result: only the same
series, on the same baseline, with the same environment."""

from __future__ import annotations

from pathlib import Path

from gen import check, pipeline
from gen.variants import VARIANTS


class Tree:
    baseline = "f" * 40


def ladder(variant: str = "split-vmap", digest: str = "d1") -> check.Ladder:
    lad = check.Ladder(pipeline.Request(VARIANTS[variant], None, output=Path("/nonexistent")),
                       check.Matrix(), regenerate=False)
    lad.tree = Tree()  # type: ignore[assignment]
    lad.report.digest = digest
    return lad


def test_the_key_names_series_variant_and_environment():
    env = {"PATH": "/bin"}
    key = ladder()._harness_key(env)
    assert key == ladder()._harness_key({**env, "UNRELATED": "1"})
    assert key != ladder(digest="d2")._harness_key(env)
    assert key != ladder(variant="no-trim")._harness_key(env)
    assert key != ladder()._harness_key({**env, "GEN_HARNESS_SANITIZE": "1"})
    assert key != ladder()._harness_key({**env, "GEN_HARNESS_TREE": "/elsewhere"})
