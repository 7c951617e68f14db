"""A toolstack for dom0: xenstored, xenconsoled, xen-init-dom0 and xl, with
every library they load, as a directory tree to copy into the initramfs.

On Debian's tree it is Debian's binary packages of the same release line
(they download even where only an older source version is served); on any
other tree, `tools/` built from that tree, because the domctl interface
changes between releases.  Both are cached: the packages by their version,
a build by the tree's commit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from gen import baseline, progress
from gen.debian import Apt
from gen.errors import GenError
from gen.xentree import XenTree

# What dom0 runs, and what a Debian release line ships it in.  The host's
# own libraries (glibc, zlib, ...) are added by ldd.
DEBIAN_PACKAGES = ("xen-utils-{line}", "libxenmisc{line}", "libxenstore4", "libxencall1",
                   "libxenevtchn1", "libxenforeignmemory1", "libxengnttab1", "libxentoollog1",
                   "libxenhypfs1", "libxendevicemodel1", "libxentoolcore1", "libyajl2")
COMMANDS = ("xl", "xenstored", "xenconsoled", "xen-init-dom0")
# tools/ of any other tree: configured for what xl needs to run PV guests
# (no firmware, no device model, no stubdoms), and only the directories
# that build dom0's commands, in dependency order.  4.17's xenstored is in
# tools/xenstore.
CONFIGURE = ("--prefix=/usr", "--disable-docs", "--disable-stubdom", "--disable-qemu-traditional",
             "--disable-rombios", "--disable-seabios", "--disable-ipxe", "--disable-ovmf",
             "--disable-pvshim", "--with-system-qemu=/bin/false", "--disable-golang",
             "--disable-ocamltools", "--disable-xsmpolicy", "--disable-systemd")
TOOL_DIRS = ("include", "libs", "xenstored|xenstore", "console", "xl", "helpers")
# Loaded with dlopen(), so ldd cannot see it: glibc's pthread_cancel(), which
# libxl calls, needs it.
DLOPENED = ("libgcc_s.so.1",)


@dataclass(frozen=True)
class Toolstack:
    root: Path  # copied over the initramfs's root
    commands: dict[str, str]  # command -> its path inside the initramfs
    origin: str  # where it came from, for the report

    @property
    def id(self) -> str:
        return f"{self.origin}\0{self.root}"

    # The names the dom0 /init template uses.
    @property
    def xenstored(self) -> str:
        return self.commands["xenstored"]

    @property
    def xenconsoled(self) -> str:
        return self.commands["xenconsoled"]

    @property
    def init_dom0(self) -> str:
        return self.commands["xen-init-dom0"]


def _find_commands(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in COMMANDS:
        hits = sorted(p for p in root.rglob(name) if p.is_file() and os.access(p, os.X_OK))
        if not hits:
            raise GenError(f"the toolstack in {root} has no {name}")
        found[name] = "/" + str(hits[0].relative_to(root))
    return found


def add_libraries(root: Path, commands: dict[str, str]) -> None:
    """Copy into root every shared library the commands load that root lacks,
    from this machine (ldd, with root's library directories searched first)."""
    dirs = sorted({str(p.parent) for p in root.rglob("*.so*")})
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(dirs), "LC_ALL": "C"}
    for path in commands.values():
        res = subprocess.run(["ldd", str(root / path.lstrip("/"))], env=env,
                             capture_output=True, text=True, check=False)
        if res.returncode:
            raise GenError(f"ldd {path} failed: {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            if "not found" in line:
                raise GenError(f"{path} needs a library that neither the toolstack nor this "
                               f"machine has: {line.strip()}")
            m = re.search(r"(?:=> )?(/\S+) \(0x", line)
            if not m:
                continue
            lib = Path(m.group(1))
            if lib.is_relative_to(root):
                continue
            _copy(lib, root)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                           check=False).stdout
    for name in DLOPENED:
        m = re.search(rf"^\s+{re.escape(name)} \(libc6,x86-64\) => (\S+)$", cache, re.M)
        if not m:
            raise GenError(f"this machine has no {name}, which the toolstack loads")
        _copy(Path(m.group(1)), root)


def _copy(lib: Path, root: Path) -> None:
    dest = root / lib.relative_to("/")
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest)


def _finish(root: Path, origin: str) -> Toolstack:
    commands = _find_commands(root)
    add_libraries(root, commands)
    sbin = root / "usr" / "sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    if not (sbin / "xl").exists():
        (sbin / "xl").symlink_to(commands["xl"])
    return Toolstack(root, commands, origin)


def debian(cache: Path, line: str) -> Toolstack:
    """Debian's binary toolstack of release line `line` (e.g. "4.17")."""
    base = cache / "toolstack"
    done = sorted(base.glob(f"debian-{line}-*/root"))
    if done:
        root = done[-1]
        return Toolstack(root, _find_commands(root), f"Debian xen-utils-{line} "
                         f"{root.parent.name.removeprefix(f'debian-{line}-')}")
    progress.say(f"fetching Debian's Xen {line} toolstack with apt")
    apt = Apt(cache / "dom0-apt", newer_suites=False)
    apt.prepare()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    try:
        version = ""
        for pattern in DEBIAN_PACKAGES:
            pkg = pattern.format(line=line)
            try:
                deb = apt.download_binary(pkg, work / "debs")
            except GenError as e:
                raise GenError(f"Debian's toolstack for Xen {line}: {e}",
                               hint="pass a xen.git clone with --xen, whose tools/ gen "
                                    "builds instead") from e
            if pkg.startswith("xen-utils-"):
                version = deb.name.split("_")[1]
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
        for junk in ("etc", "usr/share", "usr/lib/python3"):
            shutil.rmtree(work / "root" / junk, ignore_errors=True)
        ts = _finish(work / "root", f"Debian xen-utils-{line} {version}")
        final = base / f"debian-{line}-{version}"
        shutil.rmtree(work / "debs")
        work.rename(final)
        return Toolstack(final / "root", ts.commands, ts.origin)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def built(tree: XenTree, cache: Path, jobs: int | None) -> Toolstack:
    """tools/ of the tree's baseline, built and installed once per commit."""
    base = cache / "toolstack"
    final = base / f"tree-{tree.baseline[:16]}"
    origin = f"tools/ built from {tree.baseline[:12]}"
    if (final / "root").is_dir():
        return Toolstack(final / "root", _find_commands(final / "root"), origin)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    log = base / f"tree-{tree.baseline[:16]}.log"
    try:
        src, root = work / "src", work / "root"
        src.mkdir()
        with (work / "src.tar").open("wb") as f:
            git.Repo(tree.repo).archive(f, tree.baseline)
        subprocess.run(["tar", "-xf", str(work / "src.tar"), "-C", str(src)], check=True)
        steps = [["./configure", *CONFIGURE]]
        for alternatives in TOOL_DIRS:
            d = next((d for d in alternatives.split("|") if (src / "tools" / d).is_dir()),
                     None)
            if d is None:
                raise GenError(f"the tree has no tools/{alternatives.split('|')[0]}")
            steps.append(["make", "-C", f"tools/{d}", f"-j{jobs or os.cpu_count() or 1}",
                          "install", f"DESTDIR={root}"])
        with progress.running(f"build tools/ of {tree.baseline[:12]} for dom0"), \
                log.open("w") as out:
            for cmd in steps:
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                res = subprocess.run(cmd, cwd=src, stdout=out, stderr=subprocess.STDOUT,
                                     check=False)
                if res.returncode:
                    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                    raise GenError(f"building the toolstack failed at '{' '.join(cmd[:3])}': "
                                   + " / ".join(tail) + f"; log: {log}",
                                   hint="./scripts/install-deps installs what tools/ needs")
        for junk in ("etc", "usr/share", "usr/include", "var"):
            shutil.rmtree(root / junk, ignore_errors=True)
        for lib in root.rglob("*.a"):
            lib.unlink()
        ts = _finish(root, origin)
        shutil.rmtree(src)
        work.rename(final)
        return Toolstack(final / "root", ts.commands, origin)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def for_tree(tree: XenTree, src: Path, cache: Path, jobs: int | None) -> Toolstack:
    """Debian's packages for Debian's tree, else tools/ built from the tree."""
    (major, minor), _ = baseline.read_version(src)
    if tree.kind == "debian":
        return debian(cache, f"{major}.{minor}")
    return built(tree, cache, jobs)
