"""The dom0 that boots on Xen under QEMU: Debian's kernel and a busybox
initramfs, with, for the guest stage, a toolstack and what its guests boot.

The parts come from Debian with apt (a private configuration, see debian.py)
and are unpacked once into the cache: the kernel that linux-image-amd64
depends on (as the ELF a PV dom0 boots, and as the bzImage a PV guest
boots), the Xen modules of that kernel, and busybox-static.  Each initramfs
is built from them and cached by what went into it.  For an Arm64 boot the
same come from Debian's arm64 packages, downloaded for that foreign
architecture (the kernel's Image is what Xen loads as dom0).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gen import progress
from gen.build import ARCHES
from gen.debian import Apt
from gen.errors import GenError
from gen.guests import GUEST_MARKER, PREFIX, Plan
from gen.render import Renderer
from gen.toolstack import Toolstack

MARKER = "GEN-DOM0-MARKER"
# Loaded in this order: xenfs needs privcmd.
MODULES = ("xen-evtchn", "xen-privcmd", "xenfs", "xen-gntdev", "xen-gntalloc")


@dataclass(frozen=True)
class Parts:
    """Debian's kernel, its Xen modules and busybox, unpacked in `dir`."""

    dir: Path

    @property
    def version(self) -> str:
        return self.dir.name.removeprefix("parts-")

    @property
    def vmlinux(self) -> Path:
        """What Xen boots as dom0: the ELF on x86, the Image on Arm64."""
        return self.dir / "vmlinux"

    @property
    def busybox(self) -> Path:
        return self.dir / "busybox"

    def module(self, name: str) -> Path:
        return self.dir / "modules" / f"{name}.ko"


@dataclass(frozen=True)
class Dom0:
    kernel: Path
    initrd: Path
    version: str
    plan: Plan | None = None  # the guest stage its /init runs, if any
    toolstack: str = ""  # where the toolstack came from, for the report


def _vmlinux(vmlinuz: Path, dest: Path) -> None:
    """Unpack the xz payload of a bzImage into the ELF that PV boot needs."""
    data = vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise GenError(f"{vmlinuz.name} has no xz payload")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if not elf.startswith(b"\x7fELF"):
        raise GenError(f"{vmlinuz.name}'s payload is not an ELF image")
    dest.write_bytes(elf)


def parts(cache: Path, arch: str = "x86_64") -> Parts:
    """Fetch and unpack the parts once; later calls return the cached ones."""
    deb_arch = ARCHES[arch].debian
    root = cache / "dom0"
    done = sorted(root.glob(f"parts-*-{deb_arch}/busybox"))
    if done:
        return Parts(done[-1].parent)
    progress.say(f"fetching the {deb_arch} dom0 kernel, its Xen modules and busybox with apt")
    native = arch == "x86_64"
    apt = Apt(cache / ("dom0-apt" if native else f"dom0-apt-{deb_arch}"), newer_suites=False,
              arch=None if native else deb_arch)
    apt.prepare()
    image = next((d for d in apt.depends(f"linux-image-{deb_arch}")
                  if d.startswith("linux-image-")), None)
    if image is None:
        raise GenError(f"cannot find the kernel package that linux-image-{deb_arch} depends on")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-parts-", dir=root))
    try:
        for pkg in (image, "busybox-static"):
            deb = apt.download_binary(pkg, work / "debs")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / pkg)], check=True)
        vmlinuz = sorted((work / image / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise GenError(f"{image} has no vmlinuz")
        out = work / "parts"
        (out / "modules").mkdir(parents=True)
        if native:
            _vmlinux(vmlinuz[0], out / "vmlinux")
        else:
            shutil.copy2(vmlinuz[0], out / "vmlinux")
        # The guest stage's modules; Arm64 boots have no guest stage.
        for name in MODULES if native else ():
            found = sorted((work / image / "lib" / "modules").rglob(f"{name}.ko"))
            if not found:
                raise GenError(f"{image} has no module {name}.ko")
            shutil.copy2(found[0], out / "modules" / f"{name}.ko")
        shutil.copy2(work / "busybox-static" / "bin" / "busybox", out / "busybox")
        # Published whole: a directory with every part appears, or nothing.
        final = root / f"parts-{image.removeprefix('linux-image-')}"
        out.rename(final)
        return Parts(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cpio(tree: Path) -> bytes:
    """The directory as a gzipped newc archive, reproducibly: the same files
    give the same bytes, whenever they were written."""
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (0, 0), follow_symlinks=False)
    files = subprocess.run(["find", ".", "-print0"], cwd=tree, capture_output=True,
                           check=True).stdout
    names = b"\0".join(sorted(files.strip(b"\0").split(b"\0"))) + b"\0"
    out = subprocess.run(["cpio", "-o", "-0", "-H", "newc", "--quiet", "--reproducible"],
                         cwd=tree, input=names, capture_output=True, check=True).stdout
    return gzip.compress(out, mtime=0)


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _busybox_root(p: Parts, tree: Path) -> None:
    for d in ("bin", "sbin", "dev", "proc", "sys", "etc", "tmp", "run", "var"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(p.busybox, tree / "bin" / "busybox")


def guest_initrd(p: Parts, renderer: Renderer) -> bytes:
    with tempfile.TemporaryDirectory(prefix="gen-guest-") as tmp:
        tree = Path(tmp)
        _busybox_root(p, tree)
        _script(tree / "init", renderer.render("dom0/guest-init.j2"))
        _script(tree / "sbin" / "poweroff", renderer.render("dom0/guest-poweroff.j2"))
        return cpio(tree)


def assemble(cache: Path, plan: Plan | None = None, tools: Toolstack | None = None,
             arch: str = "x86_64") -> Dom0:
    """The dom0 for a boot: without a plan, an /init that prints the marker
    and leaves QEMU; with one, a toolstack and the guest stage first."""
    if (plan is None) != (tools is None):
        raise GenError("a guest stage needs a toolstack, and a toolstack a guest stage")
    p = parts(cache, arch)
    renderer = Renderer({"marker": MARKER, "prefix": PREFIX, "guest_marker": GUEST_MARKER,
                         "plan": plan, "modules": MODULES, "tools": tools, "arch": arch})
    init = renderer.render("dom0/init.j2")
    files: dict[str, bytes] = {"init": init.encode()}
    if plan and tools:
        files["guest/initrd.cpio.gz"] = guest_initrd(p, renderer)
        for g in range(1, plan.guests + 1):
            files[f"etc/xen/gen-g{g}.cfg"] = renderer.render(
                "dom0/guest.cfg.j2", name=f"gen-g{g}").encode()
        files["etc/xen/xl.conf"] = b'autoballoon="off"\n'
    key = hashlib.sha256(p.version.encode())
    for name in sorted(files):
        key.update(name.encode() + b"\0" + files[name] + b"\0")
    if tools:
        key.update(tools.id.encode())
    initrd = cache / "dom0" / f"initrd-{key.hexdigest()[:20]}.cpio.gz"
    result = Dom0(p.vmlinux, initrd, p.version, plan, tools.origin if tools else "")
    if initrd.is_file():
        return result
    with tempfile.TemporaryDirectory(prefix="gen-dom0-") as tmp:
        tree = Path(tmp)
        _busybox_root(p, tree)
        if plan and tools:
            shutil.copytree(tools.root, tree, symlinks=True, dirs_exist_ok=True)
            (tree / "lib" / "modules").mkdir(parents=True, exist_ok=True)
            for name in MODULES:
                shutil.copy2(p.module(name), tree / "lib" / "modules" / f"{name}.ko")
        for name, data in files.items():
            path = tree / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (tree / "init").chmod(0o755)
        if plan:
            shutil.copy2(p.vmlinux, tree / "guest" / "vmlinuz")
        data = cpio(tree)
    tmpfile = initrd.with_suffix(".tmp")
    tmpfile.write_bytes(data)
    tmpfile.rename(initrd)
    return result
