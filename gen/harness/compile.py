"""Building the harness: one cffi module per set of inputs, cached under
cache_dir()/harness by a hash of every input."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi
import pycparser
import pycparser.c_ast
import pycparser.c_generator

from gen import baseline, xentree
from gen.errors import GenError
from gen.harness.extract import XV_C, XV_H, defines_for, headers_for, xenheap_unit
from gen.harness.runtime import Harness, sanitizing
from gen.series import Variant

C_DIR = Path(__file__).resolve().parents[2] / "c"
API_HEADER = C_DIR / "shim" / "api.h"
SHIM_SOURCES = ("shim/api.c", "shim/bench.c", "shim/lib.c", "shim/probe.c", "shim/pt.c",
                "shim/ram.c", "shim/report.c", "shim/stress.c", "shim/xlog.c", "tu/vmap.c",
                "tu/xenheap_vmap.c", "tu/xmalloc.c")

FLAGS = ("-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
         # Python's own CFLAGS carry -DNDEBUG, which would turn the tree's
         # mfn_t into a plain integer, and -fwrapv, which would hide signed
         # overflow from UBSan.
         "-UNDEBUG", "-fno-wrapv",
         # As Xen builds.
         "-fno-strict-aliasing", "-include", "xen/config.h")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer")

@dataclass(frozen=True)
class Spec:
    """Everything that goes into one module."""

    root: Path
    defines: tuple[str, ...]
    units: tuple[str, ...]  # generated translation units, as text
    headers: tuple[tuple[str, str], ...]  # generated headers: (name, text)
    sanitize: bool
    traits: frozenset[str]  # the slugs of the patches applied, prerequisite's included
    arch: str = "x86_64"  # whose semantics the shim gives vmap.c (ARCH_DEFINES)
    release: bool = False  # ASSERTs compiled out, as in Xen's release builds

    def flags(self) -> list[str]:
        common = self.root / "xen" / "common"
        return [*FLAGS, *(SANITIZE if self.sanitize else ()),
                f'-DXEN_VMAP_C="{common / "vmap.c"}"',
                f'-DXEN_XMALLOC_C="{common / "xmalloc_tlsf.c"}"',
                f'-DXEN_XENHEAP_VMAP_C="{self.root / XV_C}"',
                f'-DXEN_ASM_XENHEAP_VMAP_H="{self.root / XV_H}"',
                *(f"-D{d}" for d in self.defines + ARCH_DEFINES[self.arch]),
                *(["-DSHIM_RELEASE"] if self.release else []),
                # Records name files relative to the tree and to this
                # repository, so a module does not depend on where they are.
                f"-fmacro-prefix-map={self.root}/=", f"-fmacro-prefix-map={C_DIR.parent}/="]

    def include_dirs(self) -> list[str]:
        return [str(C_DIR / "include"), str(C_DIR), str(self.root / "xen" / "include")]

    def digest(self) -> str:
        """A hash of every input, but not of where the tree and this
        repository are: the same sources in another place are the same
        module."""
        h = hashlib.sha256()
        for part in (*self.flags(), *self.units, *(t for h_ in self.headers for t in h_),
                     *_toolchain()):
            h.update(self._portable(part).encode() + b"\0")
        files = [*sorted(C_DIR.rglob("*.[ch]")),
                 *sorted((self.root / "xen" / "include" / "xen").rglob("*.h")),
                 self.root / "xen" / "common" / "vmap.c",
                 self.root / "xen" / "common" / "xmalloc_tlsf.c",
                 *(p for p in (self.root / XV_C, self.root / XV_H) if p.exists())]
        for path in files:
            h.update(self._portable(str(path)).encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()[:20]

    def _portable(self, text: str) -> str:
        return text.replace(str(self.root), "<tree>").replace(str(C_DIR.parent), "<repo>")


# What the shim does differently for Arm: vunmap() through
# destroy_xen_mappings(), and VMAP_XEN the size of Arm's livepatch area.
ARCH_DEFINES: dict[str, tuple[str, ...]] = {"x86_64": (), "arm64": ("SHIM_ARM",)}


def _toolchain() -> tuple[str, ...]:
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    return (cc.stdout.splitlines()[0], cffi.__version__,
            sysconfig.get_config_var("EXT_SUFFIX") or "")


def cdef(defines: Sequence[str]) -> str:
    """The cffi cdef: api.h preprocessed as the build sees it, parsed and
    printed back by pycparser (which takes no __attribute__)."""
    text = subprocess.run(
        ["gcc", "-E", "-P", "-D__attribute__(x)=", *(f"-D{d}" for d in defines),
         str(API_HEADER)], capture_output=True, text=True, check=True).stdout
    ast = pycparser.CParser().parse(text, str(API_HEADER))
    gen = pycparser.c_generator.CGenerator()
    return "".join(gen.visit(node) + ";\n" for node in ast.ext)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _compile(spec: Spec, name: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="gen-harness-") as tmp:
        (Path(tmp) / "tree").mkdir()
        for header, text in spec.headers:
            (Path(tmp) / "tree" / header).write_text(text)
        units = []
        for i, text in enumerate(spec.units):
            unit = Path(tmp) / f"unit{i}.c"
            unit.write_text(text)
            units.append(str(unit))
        ffi = cffi.FFI()
        ffi.cdef(cdef(spec.defines))
        ffi.set_source(name, "#include <shim/api.h>\n",
                       sources=[*(str(C_DIR / s) for s in SHIM_SOURCES), *units],
                       include_dirs=[*spec.include_dirs(), tmp],
                       extra_compile_args=spec.flags(),
                       extra_link_args=list(SANITIZE[:1]) if spec.sanitize else [])
        # ffi.compile() reads setup.cfg from the working directory.
        with contextlib.chdir(tmp):
            try:
                built = ffi.compile(tmpdir=tmp)
            except cffi.VerificationError as e:
                raise GenError(f"the harness does not build for {spec.root}: {e}") from e
        staged = dest.with_suffix(".tmp")
        shutil.copyfile(built, staged)
        os.replace(staged, dest)


_loaded: dict[str, Any] = {}


def _load(name: str, path: Path) -> Any:
    if name not in _loaded:
        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


def build(root: Path, variant: Variant | None = None, extra_sources: Sequence[str] = (),
          sanitize: bool | None = None, arch: str = "x86_64",
          release: bool = False) -> Harness:
    """The harness for the tree at root, with variant's series applied (None:
    the baseline), built unless cached.  The build follows the series'
    traits, the slugs of its patches and its prerequisite's on this
    baseline (Harness.traits).

    extra_sources are further translation units (C text), for code a
    series adds, taken from its tree with cedit; they see the same headers.
    arch chooses the shim's semantics (ARCH_DEFINES).
    """
    sanitize = sanitizing() if sanitize is None else sanitize
    traits = frozenset(p.slug for p in variant.applied(baseline.probe(root))) \
        if variant else frozenset()
    spec = Spec(root, defines_for(root, traits), (xenheap_unit(root, traits), *extra_sources),
                headers_for(root, traits), sanitize, traits, arch, release)
    path = module_path(spec)
    name = path.name.split(".")[0]
    with _locked(path.parent / ".lock"):
        if not path.exists():
            _compile(spec, name, path)
    return Harness(_load(name, path), spec)


def module_path(spec: Spec) -> Path:
    """Where the module for spec is cached; its name is its inputs' hash."""
    cache = xentree.cache_dir() / "harness"
    cache.mkdir(exist_ok=True)
    return cache / f"_xenshim_{spec.digest()}{sysconfig.get_config_var('EXT_SUFFIX')}"


