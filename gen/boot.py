"""Boot Xen under QEMU (TCG) with a Debian dom0 (see dom0.py): a PV dom0
on x86-64, and on Arm64 QEMU's virt machine with Xen as its kernel and the
dom0 kernel and initramfs as guest-loader modules.

The initramfs's /init prints a marker, runs the guest stage if it has one
(see guests.py), and leaves QEMU: through isa-debug-exit on x86, so exit
code 65 together with the marker, and nothing else, is a pass; on Arm64 by
powering dom0 off, which Xen turns into PSCI SYSTEM_OFF, exit code 0 after
Xen says it halted.
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

from gen import guests, progress
from gen.dom0 import MARKER, Dom0

EXIT_OK = 65  # (0x20 << 1) | 1: what /init writes to the isa-debug-exit port
BASE_CMDLINE = "console=com1 loglvl=all guest_loglvl=all dom0_mem=512M,max:512M bootscrub=false"
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen panic=1 quiet"
DUMP_KEYS = b"d"  # Xen's debug key: registers and stack of every CPU
DUMP_SECONDS = 10  # for the dump to reach the log
DUMP_MARK = "*** Serial input to Xen"
CODE = Path(__file__).resolve().parent.parent
TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "cpio": "cpio", "dpkg-deb": "dpkg"}


@dataclass(frozen=True)
class Platform:
    """How one architecture boots under QEMU, and what its good boot prints
    beyond what every good boot does."""

    qemu: tuple[str, ...]  # the QEMU binary and its machine
    package: str  # the Debian package of that binary
    xen_cmdline: str
    dom0_cmdline: str
    exit_ok: int
    required: tuple[tuple[str, str], ...]


PLATFORMS = {
    "x86_64": Platform(
        ("qemu-system-x86_64", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"),
        "qemu-system-x86", BASE_CMDLINE, DOM0_CMDLINE, EXIT_OK,
        (("dom0-build", r"\(XEN\) \*\*\* Building a PV Dom0 \*\*\*"),)),
    # virt with EL2 for Xen, GICv3, as Xen's own CI boots Arm64.
    "arm64": Platform(
        ("qemu-system-aarch64", "-machine", "virt,virtualization=on,gic-version=3",
         "-cpu", "cortex-a57"),
        "qemu-system-arm", "console=dtuart loglvl=all guest_loglvl=all dom0_mem=512M "
        "bootscrub=false", "console=hvc0 earlycon=xen panic=1 quiet", 0,
        (("dom0-build", r"\(XEN\) \*\*\* LOADING DOMAIN 0 \*\*\*"),
         ("halted", r"\(XEN\) Hardware Dom0 halted: halting machine"))),
}
# Where guest-loader puts dom0's kernel and initramfs in the virt machine's
# RAM (from 0x40000000): clear of Xen near its start and of the device tree,
# which QEMU puts 128 MiB in (where Xen then cannot find a dom0 kernel), with
# room for the kernel's 32 MiB Image below the initramfs.
ARM_KERNEL_ADDR, ARM_INITRD_ADDR = 0x49000000, 0x4d000000

# What a good boot prints, in order of appearance, with the platform's own
# lines after the CPUs.
REQUIRED = (
    ("banner", r"\(XEN\) Xen version \d+\.\d+"),
    ("cpus", r"\(XEN\) Brought up (\d+) CPUs"),
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
class BootSpec:
    name: str
    xen: Path
    cmdline: str = ""  # added to BASE_CMDLINE
    smp: int = 2
    memory: int = 2048
    timeout: int = 360
    expect: tuple[tuple[str, str], ...] = ()  # extra (name, regex) a pass needs
    arch: str = "x86_64"

    @property
    def platform(self) -> Platform:
        return PLATFORMS[self.arch]


@dataclass
class BootResult:
    spec: BootSpec
    ok: bool
    reason: str
    exit_code: int | None
    seconds: float
    log: Path
    tail: list[str] = field(default_factory=list)
    reused: bool = False  # the log of an earlier boot with the same inputs


def qemu_command(spec: BootSpec, dom0: Dom0) -> list[str]:
    p = spec.platform
    cmdline = f"{p.xen_cmdline} {spec.cmdline}".strip()
    if spec.arch == "x86_64":
        modules = ["-initrd", f"{dom0.kernel} {p.dom0_cmdline},{dom0.initrd}"]
    else:
        modules = ["-device", f"guest-loader,addr={ARM_KERNEL_ADDR:#x},kernel={dom0.kernel},"
                              f"bootargs={p.dom0_cmdline}",
                   "-device", f"guest-loader,addr={ARM_INITRD_ADDR:#x},initrd={dom0.initrd}"]
    return [*p.qemu, "-display", "none", "-no-reboot", "-serial", "stdio",
            "-m", str(spec.memory), "-smp", str(spec.smp),
            "-kernel", str(spec.xen), "-append", cmdline, *modules]


def judge(spec: BootSpec, text: str, exit_code: int | None,
          plan: guests.Plan | None = None) -> str:
    """Why a boot failed, or "" when it passed."""
    for name, pattern in FAILURES:
        m = re.search(pattern, text)
        if m:
            return f"{name}: {m.group(0)}"
    if exit_code is None:
        return f"timeout after {spec.timeout}s"
    missing = [name for name, pattern in REQUIRED + spec.platform.required + spec.expect
               if not re.search(pattern, text)]
    cpus = re.search(r"Brought up (\d+) CPUs", text)
    if cpus and int(cpus.group(1)) != spec.smp:
        return f"cpus: brought up {cpus.group(1)} of {spec.smp}"
    if missing:
        return "missing: " + ", ".join(missing)
    if plan is not None:
        why = guests.judge(plan, text)
        if why:
            return why
    if exit_code != spec.platform.exit_ok:
        return f"exit code {exit_code}, expected {spec.platform.exit_ok}"
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


def key(spec: BootSpec, dom0: Dom0) -> str:
    """What decides a boot: the hypervisor's bytes, the dom0 (its kernel,
    and its initramfs, named by its contents), the spec, QEMU's version and
    the code that boots and judges.  Not the timeout: a boot kept stands for
    any timeout it passed within (see boot())."""
    h = hashlib.sha256(spec.xen.read_bytes())
    h.update(repr((spec.cmdline, spec.smp, spec.memory, spec.expect,
                   dom0.kernel.parent.name, dom0.initrd.name, dom0.plan, spec.platform))
             .encode())
    qemu = subprocess.run([spec.platform.qemu[0], "--version"], capture_output=True,
                          text=True, check=False)
    h.update(qemu.stdout.encode())
    for f in sorted([*CODE.glob("gen/boot.py"), *CODE.glob("gen/guests.py"),
                     *CODE.glob("gen/dom0.py"), *CODE.glob("templates/dom0/*")]):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:24]


def boot(spec: BootSpec, dom0: Dom0, log: Path, kept: Path | None = None) -> BootResult:
    """Boot, judge and return the result.  With kept (a directory), a boot
    whose every input is that of a boot that passed before is not run
    again: that boot's log is copied, judged anew, and the result says so."""
    log.parent.mkdir(parents=True, exist_ok=True)
    saved = kept / key(spec, dom0) if kept is not None else None
    if saved is not None and (saved / "boot.log").is_file():
        shutil.copyfile(saved / "boot.log", log)
        os.utime(saved)
        exit_ok = spec.platform.exit_ok
        took = float((saved / "seconds").read_text())
        if took <= spec.timeout and not judge(spec, log.read_text(), exit_ok, dom0.plan):
            return BootResult(spec, True, "pass", exit_ok, took, log, reused=True)
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
    took = time.monotonic() - start
    text = log.read_bytes().decode("utf-8", "replace").replace("\r", "")
    log.write_text(text)
    reason = judge(spec, text, exit_code, dom0.plan)
    before = text
    if exit_code is None and DUMP_MARK in text:
        # Quote where it hung, not the dump; the dump stays in the log.
        before = text[:text.rindex(DUMP_MARK)].rpartition("\n")[0]
        reason += "; Xen's 'd' dump of every CPU ends the log"
    if saved is not None and not reason:
        saved.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, saved / "boot.log")
        (saved / "seconds").write_text(f"{took:.1f}\n")
    return BootResult(spec, not reason, reason or "pass", exit_code, took, log,
                      before.splitlines()[-40:])
