"""Build and load the cffi harness: a tree's real C behind the shim in c/.

The module compiles the tree's own xen/common/vmap.c and
xen/common/xmalloc_tlsf.c, each in its translation unit (c/tu/), plus the
tree's xenheap functions taken out of xen/common/page_alloc.c with cedit,
plus any further C the caller passes, against the fake headers of c/include
and, behind them, the tree's xen/include.  Its cdef is generated with
pycparser from the one test-API header, c/shim/api.h.

A tree with the xenheap series (xen/arch/x86/xenheap-vmap.c) is built
with CONFIG_XENHEAP_VMAP: that file is compiled whole, page_alloc.c's
xenheap_vmap()/xenheap_vunmap() are taken out with the xenheap functions,
and the tree's own x86 conversions (virt_to_page(), page_to_virt(),
virt_to_maddr(), virt_to_pdx(), pdx_to_virt()), the layout macros of its
arrays and its asm/xenheap-vmap.h replace the shim's conversions: they
are taken out of its asm headers into a generated header, tree/conv.h.
Every build takes the MEMF_* flags from the tree's xen/mm.h (tree/memf.h).

Built modules are cached under cache_dir()/harness, named by a hash of
every input, because an extension module cannot be reloaded: a changed
input is a new module.  With sanitize (or GEN_HARNESS_SANITIZE=1) the
module is built with ASan and UBSan; such a module loads only into a
process that runs with sanitizer_env().
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi
import pycparser
import pycparser.c_ast
import pycparser.c_generator

from gen import baseline, cedit, xentree
from gen.cedit import Kind
from gen.errors import AnchorError, GenError

C_DIR = Path(__file__).resolve().parent.parent / "c"
API_HEADER = C_DIR / "shim" / "api.h"
SHIM_SOURCES = ("shim/api.c", "shim/bench.c", "shim/lib.c", "shim/probe.c", "shim/pt.c",
                "shim/ram.c", "shim/report.c", "shim/xlog.c", "tu/vmap.c",
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

# The xenheap functions of page_alloc.c, for x86's !CONFIG_SEPARATE_XENHEAP,
# and the series' helpers they call, for CONFIG_XENHEAP_VMAP.
XENHEAP = ("alloc_xenheap_pages", "free_xenheap_pages")
XENHEAP_COND = "!CONFIG_SEPARATE_XENHEAP"
XENHEAP_VMAP = ("xenheap_vmap", "xenheap_vunmap")
XENHEAP_VMAP_COND = "CONFIG_XENHEAP_VMAP"

# The xenheap series' files and the x86 headers its conversions live in.
XV_C = "xen/arch/x86/xenheap-vmap.c"
XV_H = "xen/arch/x86/include/asm/xenheap-vmap.h"
ASM = "xen/arch/x86/include/asm/"
MM_H = "xen/include/xen/mm.h"

# Record kinds of api.h's enum h_record_kind.
KINDS = {1: "WARN", 2: "BUG", 3: "ASSERT", 4: "FAULT", 5: "VIOLATION"}


def sanitizing() -> bool:
    return os.environ.get("GEN_HARNESS_SANITIZE", "") not in ("", "0")


def sanitizer_env() -> dict[str, str]:
    """The environment a process needs to load a sanitized module: ASan's
    runtime first, leaks not reported (Python's are not ours), and SIGSEGV
    left to the shim, whose probes fault on purpose."""
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    return {"GEN_HARNESS_SANITIZE": "1", "LD_PRELOAD": libasan,
            "ASAN_OPTIONS": "detect_leaks=0:handle_segv=0:allow_user_segv_handler=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


@dataclass(frozen=True)
class Record:
    """A WARN, BUG, failed ASSERT, fault or shim rule violation."""

    kind: str
    file: str
    line: int
    msg: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.file}:{self.line}: {self.msg}"


class XenTrap(Exception):
    """A BUG(), a failed ASSERT() or a fault inside the code under test."""

    def __init__(self, record: Record) -> None:
        super().__init__(str(record))
        self.record = record


@dataclass(frozen=True)
class Spec:
    """Everything that goes into one module."""

    root: Path
    defines: tuple[str, ...]
    units: tuple[str, ...]  # generated translation units, as text
    headers: tuple[tuple[str, str], ...]  # generated headers: (name, text)
    sanitize: bool

    def flags(self) -> list[str]:
        common = self.root / "xen" / "common"
        return [*FLAGS, *(SANITIZE if self.sanitize else ()),
                f'-DXEN_VMAP_C="{common / "vmap.c"}"',
                f'-DXEN_XMALLOC_C="{common / "xmalloc_tlsf.c"}"',
                f'-DXEN_XENHEAP_VMAP_C="{self.root / XV_C}"',
                f'-DXEN_XENHEAP_VMAP_H="{self.root / XV_H}"',
                *(f"-D{d}" for d in self.defines),
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


def _toolchain() -> tuple[str, ...]:
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    return (cc.stdout.splitlines()[0], cffi.__version__,
            sysconfig.get_config_var("EXT_SUFFIX") or "")


def declares(path: Path, name: str) -> bool:
    """Whether the file declares a function or object called name."""
    return any(it.name == name and it.kind is Kind.DECLARATION
               for it in cedit.parse(path.read_text()))


def has_xenheap_vmap(root: Path) -> bool:
    """Whether the tree has the xenheap series' arrays."""
    return (root / XV_C).exists()


def defines_for(root: Path) -> tuple[str, ...]:
    """H_HAVE_* for the optional functions the tree has, and the Kconfig
    option of the xenheap series if the tree has that."""
    base = baseline.probe(root)
    have = []
    if base.has("vmap_size"):
        have.append("H_HAVE_VMAP_SIZE")
    if declares(root / "xen" / "include" / "xen" / "vmap.h", "vunmap_partial"):
        have.append("H_HAVE_VUNMAP_PARTIAL")
    if declares(root / "xen" / "common" / "xmalloc_tlsf.c", "xmalloc_spare"):
        have.append("H_HAVE_XMALLOC_SPARE")
    if has_xenheap_vmap(root):
        have += ["H_HAVE_XENHEAP_VMAP", "CONFIG_XENHEAP_VMAP"]
    return tuple(have)


def _taken(src: str, rel: str, item: cedit.Item) -> str:
    """An item's text, after a #line naming where it was taken from."""
    line = src.count("\n", 0, item.start) + 1
    return f'#line {line} "{rel}"\n{item.text(src)}'


def xenheap_unit(root: Path) -> str:
    """The tree's xenheap functions as a translation unit, with #line
    directives so that records name page_alloc.c and its real lines."""
    rel = "xen/common/page_alloc.c"
    src = (root / rel).read_text()
    parts = ["#include <tu/xenheap.h>\n"]
    if has_xenheap_vmap(root):
        parts += [_taken(src, rel, cedit.find(src, name, Kind.FUNCTION, rel, XENHEAP_VMAP_COND))
                  for name in XENHEAP_VMAP]
    parts += [_taken(src, rel, cedit.find(src, name, Kind.FUNCTION, rel, XENHEAP_COND))
              for name in XENHEAP]
    return "".join(parts)


def memf_header(root: Path) -> str:
    """The tree's MEMF_* flags (as defined in its xen/mm.h)."""
    src = (root / MM_H).read_text()
    items = [it for it in cedit.parse(src)
             if it.kind is Kind.MACRO and re.match(r"_?MEMF_", it.name)]
    if not any(it.name == "MEMF_bits" for it in items):
        raise GenError(f"{root / MM_H} defines no MEMF_bits()")
    return "".join(_taken(src, MM_H, it) for it in items)


def _first(root: Path, rel: str, names: Sequence[str], kind: Kind) -> str | None:
    """The first of names that rel defines as kind, with its #line; None if
    it defines none of them."""
    src = (root / rel).read_text()
    for name in names:
        try:
            return _taken(src, rel, cedit.find(src, name, kind, rel))
        except AnchorError:
            continue
    return None


def conv_header(root: Path) -> str:
    """The tree's x86 conversions with its xenheap arrays, in the order the
    x86 headers define them: the arrays' layout macros (asm/config.h), the
    tree's asm/xenheap-vmap.h, virt_to_pdx()/pdx_to_virt() and
    virt_to_maddr() (asm/x86_64/page.h), virt_to_page()/page_to_virt()
    (asm/mm.h), and the wrappers of older trees (asm/page.h)."""
    config, page64, mm, page = (ASM + "config.h", ASM + "x86_64/page.h", ASM + "mm.h",
                                ASM + "page.h")
    wanted: list[tuple[str, tuple[str, ...], Kind, bool]] = [
        *((config, (m,), Kind.MACRO, True)
          for m in ("XENHEAP_VMAP_FWD_START", "XENHEAP_VMAP_FWD_END",
                    "XENHEAP_VMAP_REV_START", "XENHEAP_VMAP_REV_END")),
        (page64, ("virt_to_pdx",), Kind.MACRO, True),
        (page64, ("pdx_to_virt",), Kind.MACRO, True),
        (page64, ("__virt_to_maddr", "virt_to_maddr"), Kind.FUNCTION, True),
        (page64, ("virt_to_maddr",), Kind.MACRO, False),
        (mm, ("__virt_to_page", "virt_to_page"), Kind.FUNCTION, True),
        (mm, ("__page_to_virt", "page_to_virt"), Kind.FUNCTION, True),
        (page, ("virt_to_maddr",), Kind.MACRO, False),
        (page, ("virt_to_page",), Kind.MACRO, False),
        (page, ("page_to_virt",), Kind.MACRO, False),
    ]
    parts = ["/* Generated by gen/harness.py from the tree's x86 headers. */\n"]
    for i, (rel, names, kind, required) in enumerate(wanted):
        text = _first(root, rel, names, kind)
        if text is None and required:
            raise GenError(f"{root / rel} defines no {kind.value} {' or '.join(names)}")
        if text is not None:
            parts.append(text)
        if i == 3:  # after the layout macros its inline functions use
            parts.append("#include XEN_XENHEAP_VMAP_H\n")
    return "".join(parts)


def headers_for(root: Path) -> tuple[tuple[str, str], ...]:
    """The generated headers of a build, as (name under tree/, text)."""
    out = [("memf.h", memf_header(root))]
    if has_xenheap_vmap(root):
        out.append(("conv.h", conv_header(root)))
    return tuple(out)


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


def build(root: Path, extra_sources: Sequence[str] = (), sanitize: bool | None = None,
          ) -> Harness:
    """The harness for the tree at root, built unless cached.

    extra_sources are further translation units (C text), for code a
    series adds, taken from its tree with cedit; they see the same headers.
    """
    sanitize = sanitizing() if sanitize is None else sanitize
    spec = Spec(root, defines_for(root), (xenheap_unit(root), *extra_sources),
                headers_for(root), sanitize)
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


class Harness:
    """A loaded module.  h.NAME(...) calls the C function h_NAME and raises
    XenTrap if the code under test hit a BUG, an ASSERT or a fault."""

    def __init__(self, module: Any, spec: Spec) -> None:
        self.ffi = module.ffi
        self.lib = module.lib
        self.spec = spec

    def has(self, name: str) -> bool:
        return hasattr(self.lib, f"h_{name}")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.lib, f"h_{name}")

        def checked(*args: Any) -> Any:
            res = fn(*args)
            if self.lib.h_trapped():
                traps = [r for r in self.records(clear=False)
                         if r.kind in ("BUG", "ASSERT", "FAULT")]
                raise XenTrap(traps[-1])
            return res

        return checked

    def records(self, clear: bool = True) -> list[Record]:
        lib = self.lib
        out = [Record(KINDS.get(lib.h_record_kind(i), "?"),
                      self.ffi.string(lib.h_record_file(i)).decode(), lib.h_record_line(i),
                      self.ffi.string(lib.h_record_msg(i)).decode())
               for i in range(lib.h_record_count())]
        if clear:
            lib.h_records_clear()
        return out

    def log(self) -> list[str]:
        return [self.ffi.string(self.lib.h_log_line(i)).decode()
                for i in range(self.lib.h_log_count())]
