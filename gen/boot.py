"""Boot Xen under QEMU (TCG) with a Debian PV dom0 and a busybox initramfs.

The dom0 kernel is the package linux-image-amd64 depends on, and busybox
comes from busybox-static: both are downloaded with apt (a private
configuration, see debian.py) and cached.  The initramfs's /init prints a
marker and leaves QEMU through isa-debug-exit, so exit code 65 together with
the marker, and nothing else, is a pass.
"""

from __future__ import annotations

import gzip
import lzma
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gen import progress
from gen.debian import Apt
from gen.errors import GenError

MARKER = "GEN-DOM0-MARKER"
EXIT_OK = 65  # (0x20 << 1) | 1: what /init writes to the isa-debug-exit port
BASE_CMDLINE = "console=com1 loglvl=all guest_loglvl=all dom0_mem=512M,max:512M bootscrub=false"
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen panic=1 quiet"
DUMP_KEYS = b"d"  # Xen's debug key: registers and stack of every CPU
DUMP_SECONDS = 10  # for the dump to reach the log
DUMP_MARK = "*** Serial input to Xen"
TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "cpio": "cpio", "dpkg-deb": "dpkg"}

INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
echo "{MARKER}: dom0 $(/bin/busybox uname -r) up, \
$(/bin/busybox grep MemTotal /proc/meminfo)"
/bin/busybox sync
/bin/busybox printf '\\040' | /bin/busybox dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
/bin/busybox sleep 10
"""

# What a good boot prints, in order of appearance.
REQUIRED = (
    ("banner", r"\(XEN\) Xen version \d+\.\d+"),
    ("cpus", r"\(XEN\) Brought up (\d+) CPUs"),
    ("dom0-build", r"\(XEN\) \*\*\* Building a PV Dom0 \*\*\*"),
    ("init-freed", r"\(XEN\) Freed \d+kB init memory"),
    ("marker", MARKER),
)
# What a good boot never prints.  Debug builds under TCG print a
# "SELFTEST FAILURE" line caused by QEMU's inaccuracy: not listed here.
FAILURES = (
    ("panic", r"Panic on CPU \d+"),
    ("assertion", r"Assertion '.*' failed at"),
    ("bug", r"Xen BUG at"),
    ("warn", r"Xen WARN at"),
    ("fatal-fault", r"FATAL (PAGE FAULT|TRAP)"),
    ("dom0-panic", r"Kernel panic - not syncing"),
)


@dataclass(frozen=True)
class Dom0:
    kernel: Path
    initrd: Path
    version: str


@dataclass(frozen=True)
class BootSpec:
    name: str
    xen: Path
    cmdline: str = ""  # added to BASE_CMDLINE
    smp: int = 2
    memory: int = 2048
    timeout: int = 180
    expect: tuple[tuple[str, str], ...] = ()  # extra (name, regex) a pass needs


@dataclass
class BootResult:
    spec: BootSpec
    ok: bool
    reason: str
    exit_code: int | None
    seconds: float
    log: Path
    tail: list[str] = field(default_factory=list)


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


def dom0_assets(cache: Path) -> Dom0:
    """The dom0 kernel and initramfs, fetched and built once, then cached."""
    root = cache / "dom0"
    done = sorted(root.glob("*/initrd.cpio.gz"))
    if done:
        d = done[-1].parent
        return Dom0(d / "vmlinux", d / "initrd.cpio.gz", d.name)
    progress.say("fetching the dom0 kernel and busybox with apt")
    apt = Apt(cache / "dom0-apt", newer_suites=False)
    apt.prepare()
    image = next((d for d in apt.depends("linux-image-amd64")
                  if d.startswith("linux-image-")), None)
    if image is None:
        raise GenError("cannot find the kernel package that linux-image-amd64 depends on")
    work = Path(tempfile.mkdtemp(prefix="gen-dom0-", dir=cache))
    try:
        for pkg in (image, "busybox-static"):
            deb = apt.download_binary(pkg, work / "debs")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / pkg)], check=True)
        vmlinuz = sorted((work / image / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise GenError(f"{image} has no vmlinuz")
        _vmlinux(vmlinuz[0], work / "vmlinux")
        ir = work / "initramfs"
        for d in ("bin", "dev", "proc", "sys"):
            (ir / d).mkdir(parents=True)
        shutil.copy2(work / "busybox-static" / "bin" / "busybox", ir / "bin" / "busybox")
        (ir / "init").write_text(INIT)
        (ir / "init").chmod(0o755)
        files = subprocess.run(["find", "."], cwd=ir, capture_output=True, text=True,
                               check=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=ir,
                              input=files.encode(), capture_output=True, check=True).stdout
        (work / "initrd.cpio.gz").write_bytes(gzip.compress(cpio, mtime=0))
        # Publish whole: a directory with both files appears, or nothing.
        root.mkdir(parents=True, exist_ok=True)
        ready = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        for name in ("vmlinux", "initrd.cpio.gz"):
            (work / name).rename(ready / name)
        final = root / image.removeprefix("linux-image-")
        ready.rename(final)
        return Dom0(final / "vmlinux", final / "initrd.cpio.gz", final.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def qemu_command(spec: BootSpec, dom0: Dom0) -> list[str]:
    cmdline = f"{BASE_CMDLINE} {spec.cmdline}".strip()
    return ["qemu-system-x86_64", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-m", str(spec.memory), "-smp", str(spec.smp),
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", str(spec.xen), "-append", cmdline,
            "-initrd", f"{dom0.kernel} {DOM0_CMDLINE},{dom0.initrd}"]


def judge(spec: BootSpec, text: str, exit_code: int | None) -> str:
    """Why a boot failed, or "" when it passed."""
    for name, pattern in FAILURES:
        m = re.search(pattern, text)
        if m:
            return f"{name}: {m.group(0)}"
    if exit_code is None:
        return f"timeout after {spec.timeout}s"
    missing = [name for name, pattern in REQUIRED + spec.expect
               if not re.search(pattern, text)]
    cpus = re.search(r"Brought up (\d+) CPUs", text)
    if cpus and int(cpus.group(1)) != spec.smp:
        return f"cpus: brought up {cpus.group(1)} of {spec.smp}"
    if missing:
        return "missing: " + ", ".join(missing)
    if exit_code != EXIT_OK:
        return f"exit code {exit_code}, expected {EXIT_OK}"
    return ""


def dump_state(proc: subprocess.Popen) -> None:
    """Before a hung boot is killed: switch the serial input to Xen (three
    CTRL-a) and press its debug key 'd', so that the log ends with every
    CPU's registers and stack."""
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"\x01\x01\x01" + DUMP_KEYS)
        proc.stdin.flush()
        proc.wait(timeout=DUMP_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        pass


def boot(spec: BootSpec, dom0: Dom0, log: Path) -> BootResult:
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with progress.running(f"boot {spec.name}"), log.open("wb") as out:
        proc = subprocess.Popen(qemu_command(spec, dom0), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
        try:
            exit_code: int | None = proc.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            dump_state(proc)
            proc.kill()
            proc.wait()
            exit_code = None
    text = log.read_bytes().decode("utf-8", "replace").replace("\r", "")
    log.write_text(text)
    reason = judge(spec, text, exit_code)
    before = text
    if exit_code is None and DUMP_MARK in text:
        # Quote where it hung, not the dump; the dump stays in the log.
        before = text[:text.rindex(DUMP_MARK)].rpartition("\n")[0]
        reason += "; Xen's 'd' dump of every CPU ends the log"
    return BootResult(spec, not reason, reason or "pass", exit_code,
                      time.monotonic() - start, log, before.splitlines()[-40:])
