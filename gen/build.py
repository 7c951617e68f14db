"""Build the hypervisor: defconfig plus options, incremental, with ccache,
natively for x86-64 or with Debian's cross compilers for Arm64.

Each build configuration has its own output directory (make O=...), so one
source checkout serves several configurations and each stays incremental
as the checkout moves from patch to patch.

A build that succeeded is kept by what decides its result: the source
tree's git id, the configuration, this module and the toolchain.  The same
tree built again (the control and the shared patches of the other variant,
or any patch in a later run) reuses the kept binary and log.  Make still
sees every change: the next real build compares sources against objects
by mtime, and a checkout gives every file it changes a new mtime.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from gen import progress
from gen.errors import GenError

TOOLS = {"gcc": "gcc", "make": "make", "ld": "binutils", "bison": "bison", "flex": "flex",
         "python3": "python3", "perl": "perl"}
_DIAG = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? (?:fatal )?error: .*$", re.M)


@dataclass(frozen=True)
class Arch:
    """A target architecture: Xen's XEN_TARGET_ARCH and the prefix of the
    Debian cross toolchain that builds it ("" for the host's)."""

    name: str
    cross: str
    package: str  # the Debian package of the compiler
    dir: str  # its own code: xen/arch/<dir>/
    debian: str  # Debian's name for it, for dom0's packages

    @property
    def tools(self) -> dict[str, str]:
        return {f"{self.cross}gcc": self.package, f"{self.cross}ld": self.package}

    def owns(self, path: str) -> bool:
        """Whether a file of the tree is this architecture's own code."""
        return path.startswith(f"xen/arch/{self.dir}/")

    def foreign(self, path: str) -> bool:
        """Whether a file is another architecture's own code, which this
        architecture's build does not compile."""
        return path.startswith("xen/arch/") and not self.owns(path)


ARCHES = {"x86_64": Arch("x86_64", "", "gcc", "x86", "amd64"),
          "arm64": Arch("arm64", "aarch64-linux-gnu-", "gcc-aarch64-linux-gnu", "arm", "arm64")}


def require_tools(tools: dict[str, str]) -> None:
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        raise GenError(f"missing tools: {', '.join(missing)}",
                       hint="run ./scripts/install-deps, or apt-get install "
                            + " ".join(missing))


@dataclass(frozen=True)
class BuildConfig:
    """defconfig plus options, e.g. {"DEBUG": "y", "XENHEAP_VMAP": "y"}, for
    one architecture."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    arch: Arch = ARCHES["x86_64"]


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    seconds: float
    log: Path
    binary: Path | None
    errors: tuple[str, ...] = ()
    reused: bool = False  # the kept result of an identical earlier build


def set_options(config: Path, options: dict[str, str]) -> None:
    """Set CONFIG_ lines in a .config, adding those that are missing.

    The file is only rewritten when it changes: a newer .config makes the
    build regenerate autoconf.h, and with it every object.
    """
    old = text = config.read_text()
    for name, value in options.items():
        line = f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}"
        pattern = re.compile(rf"^(# )?CONFIG_{name}(=.*| is not set)$", re.M)
        text, n = pattern.subn(line, text)
        if not n:
            text += line + "\n"
    if text != old:
        config.write_text(text)


def compiler_errors(log: str) -> tuple[str, ...]:
    """The compiler's error lines, or make's own when there are none."""
    errors = [m.group(0) for m in _DIAG.finditer(log)]
    if not errors:
        errors = [line for line in log.splitlines()
                  if re.search(r"\*\*\*|[Ee]rror:|undefined reference", line)]
    return tuple(dict.fromkeys(errors))[:12]


class Builder:
    """One build configuration of one source checkout."""

    def __init__(self, src: Path, out: Path, config: BuildConfig, cache: Path | None,
                 jobs: int | None = None, kept: Path | None = None) -> None:
        self.src, self.out, self.config, self.kept = src, out, config, kept
        self.jobs = jobs or os.cpu_count() or 1
        self.env = dict(os.environ, LC_ALL="C")
        self.cc = f"{config.arch.cross}gcc"
        if cache is not None and shutil.which("ccache"):
            self.cc = f"ccache {self.cc}"
            # The ladder builds at fixed paths, so compiles repeat exactly
            # from one run to the next and hit the cache.
            self.env.update(CCACHE_DIR=str(cache), CCACHE_MAXSIZE="5G")

    def _make(self, log, *targets: str) -> int:
        arch = self.config.arch
        cross = [f"XEN_TARGET_ARCH={arch.name}", f"CROSS_COMPILE={arch.cross}"] \
            if arch.cross else []
        cmd = ["make", "-C", str(self.src / "xen"), f"O={self.out}", f"CC={self.cc}", *cross,
               "XEN_BUILD_PE=n", f"-j{self.jobs}", *targets]
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        return subprocess.run(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                              check=False).returncode

    def _key(self, tree: str) -> str:
        arch = self.config.arch
        h = hashlib.sha256(f"{tree}\0{self.config.name}\0{sorted(self.config.options.items())}"
                           f"\0{arch.name}".encode())
        h.update(Path(__file__).read_bytes())
        for tool in ([f"{arch.cross}gcc", "--version"], [f"{arch.cross}ld", "--version"],
                     ["make", "--version"]):
            h.update(subprocess.run(tool, capture_output=True, text=True, check=False)
                     .stdout.encode())
        return h.hexdigest()[:24]

    def build(self, log_path: Path, label: str, tree: str | None = None) -> BuildResult:
        """Build the checkout.  `tree`, the git id of its source tree, lets
        an identical earlier build's result stand in for this one."""
        start = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        kept = self.kept / self._key(tree) if self.kept and tree else None
        if kept and (kept / "xen").is_file():
            os.utime(kept)  # recently used: see prune()
            log_path.write_text(f"gen: reused the build of source tree {tree} "
                                f"({self.label}) kept in {kept}\n"
                                + (kept / "build.log").read_text(errors="replace"))
            progress.say(f"{label}: reused (same source tree built before)")
            return BuildResult(True, time.monotonic() - start, log_path, kept / "xen",
                               reused=True)
        self.out.mkdir(parents=True, exist_ok=True)
        with progress.running(label), log_path.open("w") as log:
            rc = 0
            if not (self.out / ".config").exists():
                rc = self._make(log, "defconfig")
            if rc == 0:
                set_options(self.out / ".config", self.config.options)
                rc = self._make(log, "olddefconfig")
            if rc == 0:
                missing = self._missing_options()
                if missing:
                    log.write(f"options not accepted by Kconfig: {missing}\n")
                    rc = 1
            if rc == 0:
                rc = self._make(log)
        text = log_path.read_text(errors="replace")
        binary = self.out / "xen"
        ok = rc == 0 and binary.is_file()
        if ok and kept:
            tmp = kept.with_name(kept.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            shutil.copy2(binary, tmp / "xen")
            shutil.copyfile(log_path, tmp / "build.log")
            shutil.rmtree(kept, ignore_errors=True)
            tmp.rename(kept)
            binary = kept / "xen"
        return BuildResult(ok, time.monotonic() - start, log_path, binary if ok else None,
                           () if ok else compiler_errors(text))

    @property
    def label(self) -> str:
        """The configuration as logs and the report name it: "debug", or
        "debug, arm64" for a cross build."""
        arch = self.config.arch
        return self.config.name + (f", {arch.name}" if arch.cross else "")

    def _missing_options(self) -> list[str]:
        """Options the tree's Kconfig does not know (yet) are dropped by
        olddefconfig; only those that exist at this commit, in common code
        or this architecture's, must stick."""
        text = (self.out / ".config").read_text()
        root = self.src / "xen"
        kconfig = "".join(p.read_text(errors="replace") for p in root.rglob("Kconfig*")
                          if not self.config.arch.foreign(p.relative_to(self.src).as_posix()))
        missing = []
        for name, value in self.config.options.items():
            if not re.search(rf"^\s*(menu)?config {name}$", kconfig, re.M):
                continue
            want = f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}"
            if want not in text.splitlines():
                missing.append(name)
        return missing


def prune(kept: Path, days: int = 14) -> None:
    """Forget kept builds not used for `days`."""
    if not kept.is_dir():
        return
    limit = time.time() - days * 86400
    for entry in kept.iterdir():
        if entry.stat().st_mtime < limit:
            shutil.rmtree(entry, ignore_errors=True)
