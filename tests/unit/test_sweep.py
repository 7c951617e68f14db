"""Which refs the sweep takes, and how it judges a tree's features."""

from __future__ import annotations

import git
import pytest

from gen import sweep
from gen.baseline import RECORDED, Baseline
from gen.errors import GenError


@pytest.fixture
def repo(tmp_path) -> git.Repo:
    repo = git.Repo.init(tmp_path)
    (tmp_path / "f").write_text("x")
    repo.index.add(["f"])
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "T").set_value("user", "email", "t@example.org")
    repo.index.commit("one")
    for tag in ("RELEASE-4.9.9", "RELEASE-4.16.3", "RELEASE-4.17.0", "RELEASE-4.17.10",
                "RELEASE-4.17.5", "RELEASE-4.20.4", "RELEASE-4.20.0", "4.21.0-rc1", "other"):
        repo.create_tag(tag)
    return repo


def test_by_default_the_newest_tag_of_each_line_from_4_17_and_head(repo):
    # 4.17.10 is newer than 4.17.5, and 4.9 older than 4.17: numbers, not text.
    assert sweep.refs_of(repo, None) == ["RELEASE-4.17.10", "RELEASE-4.20.4", "HEAD"]


def test_a_pattern_picks_tags_in_version_order(repo):
    assert sweep.refs_of(repo, "RELEASE-4.1*") == [
        "RELEASE-4.16.3", "RELEASE-4.17.0", "RELEASE-4.17.5", "RELEASE-4.17.10"]
    assert sweep.refs_of(repo, "HEAD") == ["HEAD"]
    with pytest.raises(GenError, match=r"matches --refs 'RELEASE-5\.\*'"):
        sweep.refs_of(repo, "RELEASE-5.*")


def test_features_are_judged_against_the_line_s_record():
    line = dict(RECORDED["4.20"])
    assert sweep.features_verdict(Baseline((4, 20), ".4", line)) == "pass"
    moved = {**line, "vmap_size": not line["vmap_size"]}
    assert sweep.features_verdict(Baseline((4, 20), ".4", moved)) == \
        f"differs from 4.20's record: vmap_size={not line['vmap_size']}"
    assert sweep.features_verdict(Baseline((4, 23), "-unstable", line)) == (
        "differs from 4.23-unstable's record: x86_page_conv_underscored=True, "
        "percpu_node_local=False")
    assert sweep.features_verdict(Baseline((4, 99), "-unstable", line)) == \
        "no recorded features for line 4.99-unstable"
