"""Probe a Xen tree: its version and the API features the templates need.

Templates branch on features, never on version numbers: a feature is a fact
read from the tree's own files (a prototype's shape, a helper's presence).
"""

from __future__ import annotations

import re
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
    Feature("vmap_pte_attr", "xen/include/xen/vmap.h", r"pte_attr_t\s+flags",
            "__vmap() takes pte_attr_t flags, not unsigned int"),
    Feature("vmap_size", "xen/common/vmap.c", r"^unsigned int vmap_size\(",
            "vmap_size() exists"),
    Feature("vmap_contig", "xen/common/vmap.c", r"^void \*vmap_contig\(",
            "vmap_contig() exists"),
    Feature("vmap_ifdef", "xen/common/vmap.c", r"\A#ifdef VMAP_VIRT_START",
            "vmap.c is wrapped in #ifdef VMAP_VIRT_START"),
    Feature("vmap_h_documented", "xen/include/xen/vmap.h", r"@param",
            "vmap.h documents its functions with @param comments"),
    Feature("xv_by_vm_size", "xen/common/vmap.c",
            r"^void xvfree\(void \*va\)\n\{\n"
            r"    unsigned int pages = vm_size\(va, VMAP_DEFAULT\);",
            "xvfree() tells vmalloc()'s memory from xmalloc()'s by VMAP_DEFAULT"),
    Feature("vmap_boot_pages", "xen/common/vmap.c", r"alloc_boot_pages",
            "vmap can run before the heap is up (SYS_STATE_early_boot)"),
    Feature("x86_underscore_conversions", "xen/arch/x86/include/asm/mm.h",
            r"__virt_to_page\(",
            "x86's virt_to_page() is a macro over __virt_to_page()"),
    Feature("percpu_common", "xen/common/percpu.c", r"alloc_xenheap_pages\(PERCPU_ORDER",
            "the per-CPU areas are allocated in common code, not x86's"),
    Feature("kconfig_has_vmap", "xen/common/Kconfig", r"^config HAS_VMAP$",
            "common Kconfig has HAS_VMAP"),
    Feature("ro_after_init", "xen/include/xen/cache.h", r"__ro_after_init",
            "__ro_after_init is in xen/cache.h"),
    Feature("ro_after_init_sections", "xen/include/xen/sections.h", r"__ro_after_init",
            "__ro_after_init is in xen/sections.h"),
)


@dataclass(frozen=True)
class Baseline:
    version: tuple[int, int]
    extraversion: str
    features: dict[str, bool] = field(default_factory=dict)

    @property
    def version_string(self) -> str:
        return f"{self.version[0]}.{self.version[1]}{self.extraversion}"

    def has(self, name: str) -> bool:
        return self.features[name]


def read_version(root: Path) -> tuple[tuple[int, int], str]:
    makefile = root / "xen" / "Makefile"
    text = makefile.read_text(errors="replace")
    major = re.search(r"^export XEN_VERSION\s*=\s*(\d+)", text, re.M)
    minor = re.search(r"^export XEN_SUBVERSION\s*=\s*(\d+)", text, re.M)
    extra = re.search(r"^export XEN_EXTRAVERSION\s*\?=\s*(\S*)", text, re.M)
    if not (major and minor):
        raise TreeError(f"cannot read the Xen version from {makefile}")
    extraversion = (extra.group(1) if extra else "").replace("$(XEN_VENDORVERSION)", "")
    return (int(major.group(1)), int(minor.group(1))), extraversion


def probe(root: Path) -> Baseline:
    """Read root's version and features; refuse versions we do not support."""
    version, extra = read_version(root)
    if version < MIN_VERSION:
        raise TreeError(
            f"unsupported Xen version {version[0]}.{version[1]}{extra}: "
            f"need {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer",
            hint="xen.git staging and Debian's 4.17.5 are the supported baselines")
    features = {}
    for feat in FEATURES:
        path = root / feat.path
        text = path.read_text(errors="replace") if path.is_file() else ""
        features[feat.name] = re.search(feat.pattern, text, re.M) is not None
    return Baseline(version, extra, features)
