"""Probe a Xen tree: its version and the API features the templates need.

Templates branch on features, never on version numbers: a feature is a fact
read from the tree's own files (a prototype's shape, a helper's presence).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gen.errors import TreeError

MIN_VERSION = (4, 17)


@dataclass(frozen=True)
class Feature:
    name: str
    path: str
    pattern: str  # a regex searched for (MULTILINE) in path
    about: str


FEATURES = (
    Feature("vmap_size", "xen/common/vmap.c", r"^unsigned int vmap_size\(",
            "vmap_size() exists"),
    Feature("vmap_h_documented", "xen/include/xen/vmap.h", r"@param",
            "vmap.h documents its functions with @param comments"),
    Feature("xv_by_vm_size", "xen/common/vmap.c",
            r"^void xvfree\(void \*va\)\n\{\n"
            r"    unsigned int pages = vm_size\(va, VMAP_DEFAULT\);",
            "xvfree() tells vmalloc()'s memory from xmalloc()'s by VMAP_DEFAULT"),
    Feature("x86_page_conv_underscored", "xen/arch/x86/include/asm/mm.h",
            r"^static inline struct page_info \*__virt_to_page\(",
            "x86's virt_to_page() is a macro over an inline __virt_to_page()"),
    Feature("x86_maddr_conv_underscored", "xen/arch/x86/include/asm/x86_64/page.h",
            r"^static inline unsigned long __virt_to_maddr\(",
            "x86's virt_to_maddr() is a macro over an inline __virt_to_maddr()"),
    Feature("percpu_common", "xen/common/percpu.c", r"alloc_xenheap_pages\(PERCPU_ORDER",
            "the per-CPU areas are allocated in common code, not x86's"),
    Feature("percpu_node_local", "xen/common/percpu.c",
            r"alloc_xenheap_pages\(PERCPU_ORDER, memflags\)",
            "the per-CPU areas are allocated on the CPU's node"),
    Feature("kconfig_has_vmap", "xen/common/Kconfig", r"^config HAS_VMAP$",
            "common Kconfig has HAS_VMAP"),
)


# The features of every supported release line, as probed from all of its
# tags (and staging's HEAD for the -unstable line).  `python -m gen sweep`
# compares each tree it sweeps with its line's record, and the golden tests
# render every template branch for every record.
RECORDED: dict[str, dict[str, bool]] = {
    "4.17": {
        "vmap_size": False, "vmap_h_documented": False, "xv_by_vm_size": False,
        "x86_page_conv_underscored": True, "x86_maddr_conv_underscored": True,
        "percpu_common": False, "percpu_node_local": False, "kconfig_has_vmap": False},
    "4.18": {
        "vmap_size": False, "vmap_h_documented": False, "xv_by_vm_size": False,
        "x86_page_conv_underscored": True, "x86_maddr_conv_underscored": True,
        "percpu_common": False, "percpu_node_local": False, "kconfig_has_vmap": False},
    "4.19": {
        "vmap_size": True, "vmap_h_documented": True, "xv_by_vm_size": False,
        "x86_page_conv_underscored": True, "x86_maddr_conv_underscored": True,
        "percpu_common": False, "percpu_node_local": False, "kconfig_has_vmap": False},
    "4.20": {
        "vmap_size": True, "vmap_h_documented": True, "xv_by_vm_size": True,
        "x86_page_conv_underscored": True, "x86_maddr_conv_underscored": False,
        "percpu_common": True, "percpu_node_local": False, "kconfig_has_vmap": True},
    "4.21": {
        "vmap_size": True, "vmap_h_documented": True, "xv_by_vm_size": True,
        "x86_page_conv_underscored": False, "x86_maddr_conv_underscored": False,
        "percpu_common": True, "percpu_node_local": True, "kconfig_has_vmap": True},
    "4.22": {
        "vmap_size": True, "vmap_h_documented": True, "xv_by_vm_size": True,
        "x86_page_conv_underscored": False, "x86_maddr_conv_underscored": False,
        "percpu_common": True, "percpu_node_local": True, "kconfig_has_vmap": True},
    "4.23-unstable": {
        "vmap_size": True, "vmap_h_documented": True, "xv_by_vm_size": True,
        "x86_page_conv_underscored": False, "x86_maddr_conv_underscored": False,
        "percpu_common": True, "percpu_node_local": True, "kconfig_has_vmap": True},
}


@dataclass(frozen=True)
class Baseline:
    version: tuple[int, int]
    extraversion: str
    features: dict[str, bool] = field(default_factory=dict)

    @property
    def version_string(self) -> str:
        return f"{self.version[0]}.{self.version[1]}{self.extraversion}"

    @property
    def line(self) -> str:
        """The release line: "4.20", or "4.23-unstable" for staging."""
        unstable = "-unstable" if self.extraversion.startswith("-unstable") else ""
        return f"{self.version[0]}.{self.version[1]}{unstable}"

    def has(self, name: str) -> bool:
        return self.features[name]


Reader = Callable[[str], str]  # a path in the tree -> its text, "" if absent


def files_of(root: Path) -> Reader:
    def read(rel: str) -> str:
        path = root / rel
        return path.read_text(errors="replace") if path.is_file() else ""
    return read


def differences(base: Baseline, line: str) -> list[str]:
    """The features in which base differs from line's record, as name=value."""
    return [f"{k}={v}" for k, v in base.features.items() if RECORDED[line].get(k) != v]


def unsupported_hint(base: Baseline) -> str:
    """Why a tree whose anchors failed is not covered, by its features."""
    if base.line in RECORDED and not differences(base, base.line):
        return (f"the tree has the features recorded for Xen {base.line}, but its code has "
                f"moved or changed in a way that no feature covers")
    nearest = min(RECORDED, key=lambda line: len(differences(base, line)))
    return (f"the tree's features match no supported release line; the nearest, "
            f"{nearest}, differs in {', '.join(differences(base, nearest))}")


def read_version(root: Path) -> tuple[tuple[int, int], str]:
    return version_of(files_of(root), root)


def version_of(read: Reader, where: object) -> tuple[tuple[int, int], str]:
    text = read("xen/Makefile")
    major = re.search(r"^export XEN_VERSION\s*=\s*(\d+)", text, re.M)
    minor = re.search(r"^export XEN_SUBVERSION\s*=\s*(\d+)", text, re.M)
    extra = re.search(r"^export XEN_EXTRAVERSION\s*\?=\s*(\S*)", text, re.M)
    if not (major and minor):
        raise TreeError(f"cannot read the Xen version from xen/Makefile of {where}")
    extraversion = (extra.group(1) if extra else "").replace("$(XEN_VENDORVERSION)", "")
    return (int(major.group(1)), int(minor.group(1))), extraversion


def probe(root: Path) -> Baseline:
    """Read root's version and features; refuse versions we do not support."""
    return probe_files(files_of(root), root)


def probe_files(read: Reader, where: object) -> Baseline:
    """probe() of the tree whose files read() gives (a commit, say)."""
    version, extra = version_of(read, where)
    if version < MIN_VERSION:
        raise TreeError(
            f"unsupported Xen version {version[0]}.{version[1]}{extra}: "
            f"need {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer",
            hint="every release line from 4.17 on is supported (README, 'Baselines "
                 "checked')")
    features = {feat.name: re.search(feat.pattern, read(feat.path), re.M) is not None
                for feat in FEATURES}
    return Baseline(version, extra, features)
