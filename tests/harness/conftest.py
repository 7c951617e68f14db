"""The harness under test: the tree's real vmap.c, xmalloc_tlsf.c, xenheap
functions and (with the xenheap series) xenheap-vmap.c and x86
conversions, on the simulated machine.

`source` is, for each tree under test, the unpatched baseline (the
control) and the same tree with each variant's series applied
(pipeline.build).  For `gen check`, GEN_HARNESS_TREE names a tree root
and GEN_HARNESS_VARIANT the variant whose series it holds: `source` is
then that tree only, as that variant's patched source.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
from hypothesis import HealthCheck, settings

from gen import baseline, harness, pipeline, xentree
from gen.gitutil import Identity
from gen.sim import Sim
from gen.variants import SERIES, VARIANTS

from ..conftest import FIXED_DATE, trees_under_test

# CI-sized by default; GEN_HARNESS_LONG=1 selects the long run (its test
# checks that at least 10^5 steps ran).  Under the sanitizers the short
# pass is smaller still: the point there is coverage, not search.
settings.register_profile("ci", max_examples=60, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], database=None)
settings.register_profile("sanitize", parent=settings.get_profile("ci"), max_examples=15)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=3000,
                          stateful_step_count=50)
LONG = os.environ.get("GEN_HARNESS_LONG", "") not in ("", "0")
settings.load_profile("long" if LONG else "sanitize" if harness.sanitizing() else "ci")

GIVEN_TREE = os.environ.get("GEN_HARNESS_TREE", "")
GIVEN_VARIANT = os.environ.get("GEN_HARNESS_VARIANT", "")
BASELINE = "baseline"


@dataclass(frozen=True)
class Source:
    tree: str  # "debian", "staging" or "given"
    variant: str | None  # None for the unpatched control
    root: Path

    @property
    def kind(self) -> str:
        return "baseline" if self.variant is None else "patched"


def source_ids() -> list[str]:
    """One id per source: tree-variant, e.g. debian-baseline."""
    if GIVEN_TREE or GIVEN_VARIANT:
        if not (GIVEN_TREE and GIVEN_VARIANT):
            raise pytest.UsageError("GEN_HARNESS_TREE and GEN_HARNESS_VARIANT go together")
        if GIVEN_VARIANT not in SERIES:
            raise pytest.UsageError(f"GEN_HARNESS_VARIANT={GIVEN_VARIANT!r} is not one of "
                                    f"{', '.join(sorted(SERIES))}")
        if not (Path(GIVEN_TREE) / "xen" / "common" / "vmap.c").is_file():
            raise pytest.UsageError(f"GEN_HARNESS_TREE={GIVEN_TREE!r} is not a Xen tree root")
        return [f"given-{GIVEN_VARIANT}"]
    return [f"{tree}-{v}" for tree in trees_under_test() for v in (BASELINE, *VARIANTS)]


def fixes_source_ids() -> list[str]:
    """The fixes series' tree, for the tests of its fixes (test_fixes.py);
    the rest of the suite runs on it in `gen check --variant fixes`."""
    return [] if GIVEN_TREE else [f"{tree}-fixes" for tree in trees_under_test()]


# What a test needs of its tree, by the fixtures it uses; a test may add
# more with @pytest.mark.needs(...).  Capabilities are the slugs of the
# patches applied, "xenheap-vmap-tree" for a tree with a xenheap series,
# "unpatched" for the control, and the baseline features of the tree
# (gen.baseline).
FIXTURE_NEEDS = {
    "vsim": {"xenheap-vmap-tree"},
    "arrays": {"xenheap-vmap-tree"},
    "arrays_sim": {"xenheap-vmap-tree"},
    "partial": {"vmap-partial"},
    "checked": {"xfree-check", "xenheap-vmap-tree"},
}


def tree_root(name: str) -> Path:
    if name == "given":
        return Path(GIVEN_TREE)
    path = None if name == "debian" else Path(os.environ["GEN_TEST_STAGING"])
    return Path(git.Repo(xentree.open_tree(path, progress=lambda _m: None).repo)
                .working_tree_dir)


@functools.cache
def capabilities(source_id: str) -> frozenset[str]:
    """What the source of that id has, known before anything is built."""
    tree, _, variant = source_id.partition("-")
    base = baseline.probe(tree_root(tree))
    caps = {name for name, present in base.features.items() if present}
    if variant == BASELINE:
        caps.add("unpatched")
    else:
        if variant in VARIANTS:
            caps.add("xenheap-vmap-tree")
        caps |= {p.slug for p in SERIES[variant].applied(base)}
    return frozenset(caps)


def needs(metafunc) -> set[str]:
    wanted = {cap for name in metafunc.fixturenames for cap in FIXTURE_NEEDS.get(name, ())}
    for mark in metafunc.definition.iter_markers("needs"):
        wanted |= set(mark.args)
    return wanted


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*capabilities): run only on trees that have "
                                       "them (see tests/harness/conftest.py)")
    config.addinivalue_line("markers", "own_sources: the test module parametrizes source "
                                       "itself, by capability")


# The suites that also run on Arm's semantics (the shim built with
# SHIM_ARM: vunmap() through destroy_xen_mappings(), a 2M VMAP_XEN).
ARM_SUITES = ("test_vmap", "test_xmalloc", "test_partial")


def pytest_generate_tests(metafunc):
    """Each test against each source that has what it needs.  A test that
    no source under test can run is an error on the trees the suite picks
    (no test may have zero instances in CI), and is left out (deselected,
    not skipped) for a tree and variant given in GEN_HARNESS_TREE, as gen
    check gives them."""
    if "source" in metafunc.fixturenames and \
            not metafunc.definition.get_closest_marker("own_sources"):
        wanted = needs(metafunc)
        ids = [i for i in source_ids() if wanted <= capabilities(i)]
        if ids:
            metafunc.parametrize("source", ids, indirect=True, scope="session")
    if "arch" in metafunc.fixturenames and \
            metafunc.module.__name__.rpartition(".")[2] in ARM_SUITES:
        metafunc.parametrize("arch", ["x86_64", "arm64"], indirect=True, scope="session")


def pytest_collection_modifyitems(config, items):
    left_out = [item for item in items if "source" in item.fixturenames
                and "source" not in getattr(getattr(item, "callspec", None), "params", {})]
    if left_out and not GIVEN_TREE:
        # On the trees the suite chooses, every test must run somewhere.
        names = sorted({item.originalname for item in left_out})
        raise pytest.UsageError("harness tests that no tree under test can run: "
                                + ", ".join(names))
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


_trees: dict[str, xentree.XenTree] = {}


def _tree(request, name: str) -> xentree.XenTree:
    if name == "debian":
        return request.getfixturevalue("debian_tree")
    if name not in _trees:
        _trees[name] = xentree.open_tree(Path(os.environ["GEN_TEST_STAGING"]))
    return _trees[name]


@pytest.fixture(scope="session")
def source(request, tmp_path_factory) -> Source:
    tree, _, variant = request.param.partition("-")
    if tree == "given":
        return Source(tree, variant, Path(GIVEN_TREE).resolve())
    xt = _tree(request, tree)
    if variant == BASELINE:
        return Source(tree, None, Path(git.Repo(xt.repo).working_tree_dir))
    built = pipeline.build(SERIES[variant], xt, tmp_path_factory.mktemp(request.param),
                           Identity("Harness Test", "harness@example.org"), FIXED_DATE)
    return Source(tree, variant, built.root)


@pytest.fixture(scope="session")
def arch(request) -> str:
    """Whose semantics the shim gives vmap.c: x86-64's, and for ARM_SUITES
    also Arm64's."""
    return getattr(request, "param", "x86_64")


@pytest.fixture(scope="session")
def xh(source, arch) -> harness.Harness:
    return harness.build(source.root, SERIES[source.variant] if source.variant else None,
                         arch=arch)


def _machine(xh, **kw):
    s = Sim(xh, **kw)
    yield s
    leftover = s.records()
    locks = xh.locks_held()
    s.close()
    assert leftover == [], leftover
    assert locks == 0


@pytest.fixture
def sim(xh):
    """A fresh machine with the xenheap in the direct map (the control, or
    a patched tree booted with xenheap-vmap=no); at the end, nothing the
    test did not look at may have been recorded (WARN, BUG, violation) and
    no lock may be held."""
    yield from _machine(xh)


@pytest.fixture
def xsim(xh):
    """Like sim, with the xenheap on vmap where the tree can put it there
    (the patched trees); on the control it is the same as sim."""
    yield from _machine(xh, xenheap_vmap=True)


@pytest.fixture
def vsim(xh):
    """xsim, on the patched trees only (FIXTURE_NEEDS)."""
    assert "xenheap-track" in xh.traits
    yield from _machine(xh, xenheap_vmap=True)


@pytest.fixture
def partial(xh):
    """vunmap_partial(), which only the split-vmap series adds."""
    assert "vmap-partial" in xh.traits
    return xh.vunmap_partial
