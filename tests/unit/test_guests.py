"""The guest stage's verdict, from the lines dom0's /init prints, and the
scripts it runs (rendered, and parsed by a POSIX shell)."""

from __future__ import annotations

import gzip
import subprocess
import time
from pathlib import Path

import pytest

from gen import guests
from gen.dom0 import MARKER, MODULES, cpio
from gen.render import Renderer
from gen.toolstack import Toolstack

P = guests.PREFIX


def heap(n: int, dom: int, vmap: tuple[int, int, int] | None = None) -> str:
    lines = [f"{P}: heap {n}: (XEN)     Xen heap: 0kB free",
             f"{P}: heap {n}: (XEN)     heap[19]: 566480kB free",
             f"{P}: heap {n}: (XEN)     Dom heap: {dom}kB free"]
    if vmap:
        lines.append(f"{P}: heap {n}: (XEN)     Xenheap on vmap: {vmap[0]} pages in "
                     f"{vmap[1]} allocations, VA {vmap[2]} pages")
    return "\n".join(lines)


def log(doms: list[int], vmaps: list | None = None, done: bool = True) -> str:
    vmaps = vmaps or [None] * len(doms)
    out = [f"{MARKER}: dom0 up", f"{P}: toolstack up in 0.7 s", heap(0, doms[0], vmaps[0])]
    for c in range(1, len(doms)):
        out.append(f"{P}: cycle {c}: 3 up, 2 shut down, 1 destroyed; create 5.1 s, "
                   f"up 10.7 s, gone 11.5 s")
        out.append(heap(c, doms[c], vmaps[c]))
    if done:
        out.append(f"{P}: done")
    return "\n".join(out) + "\n"


PLAN = guests.Plan(guests=3, cycles=3)


def test_counters_flat_over_the_last_cycle_pass():
    text = log([1000, 992, 992, 992], [(10, 2, 10), (12, 3, 12), (12, 3, 12), (12, 3, 12)])
    assert guests.judge(PLAN, text) == ""
    out = guests.parse(text)
    assert out.toolstack == 0.7 and [c.gone for c in out.cycles] == [11.5] * 3
    assert out.heap[2] == {"Xen heap free kB": 0, "Dom heap free kB": 992,
                           "xenheap-vmap pages": 12, "xenheap-vmap allocations": 3,
                           "xenheap-vmap VA pages": 12}
    assert guests.summary(PLAN, text) == \
        "3x3 guests in 12, 12, 12 s per cycle; 5 counters flat over the last cycle"


def test_xen_may_warm_up_in_the_second_cycle():
    """Measured on plain 4.17.5: 4 kB more in the second cycle, once."""
    assert guests.judge(PLAN, log([1000, 992, 988, 988])) == ""


@pytest.mark.parametrize("doms, vmaps, why", [
    ([1000, 992, 980, 968], None, "Dom heap free kB: 980 -> 968 after cycle 3"),
    ([1000, 992, 992, 992], [(1, 1, 1), (2, 1, 2), (2, 1, 2), (2, 1, 3)],
     "xenheap-vmap VA pages: 2 -> 3 after cycle 3"),
    ([1000, 992, 992, 992], [(1, 1, 1), (2, 1, 2), (2, 1, 2), (3, 2, 4)],
     "xenheap-vmap pages: 2 -> 3 after cycle 3; xenheap-vmap allocations: 1 -> 2 after "
     "cycle 3; xenheap-vmap VA pages: 2 -> 4 after cycle 3"),
])
def test_a_counter_that_moves_in_the_last_cycle_is_a_leak(doms, vmaps, why):
    assert guests.judge(PLAN, log(doms, vmaps)) == f"guests: leak: {why}"


def test_a_failure_unfinished_cycles_or_missing_counters_fail():
    text = log([1000, 992]) + f"{P}: FAIL cycle 2: gen-g3's userspace did not report in\n"
    assert guests.judge(PLAN, text) == "guests: cycle 2: gen-g3's userspace did not report in"
    assert guests.judge(PLAN, log([1000, 992, 992], done=False)) == \
        "guests: 2 of 3 cycles finished"
    text = log([1000, 992, 992, 992]).replace(f"{P}: heap 2:", "(XEN) heap 2:")
    assert guests.judge(PLAN, text) == "guests: no memory counters read at reading 2"


def test_a_plan_that_is_not_flat_does_not_judge_the_counters():
    plan = guests.Plan(guests=3, cycles=3, flat=False)
    text = log([1000, 964, 952, 940])
    assert guests.judge(plan, text) == ""
    assert guests.summary(plan, text).endswith("moved (not compared)")
    assert guests.judge(PLAN, text) == "guests: leak: Dom heap free kB: 952 -> 940 after cycle 3"


def test_one_cycle_compares_nothing():
    plan = guests.Plan(guests=1, cycles=1)
    assert guests.judge(plan, log([1000, 900])) == ""
    assert guests.summary(plan, log([1000, 900])).endswith("not compared (one cycle)")


def test_a_plan_needs_guests_cycles_and_memory():
    for bad in ({"guests": 0}, {"cycles": 0}, {"vcpus": 0}, {"memory": 16}):
        with pytest.raises(ValueError):
            guests.Plan(**bad)


def test_the_scripts_are_shell(tmp_path):
    tools = Toolstack(tmp_path, {"xl": "/usr/sbin/xl", "xenstored": "/usr/sbin/xenstored",
                                 "xenconsoled": "/usr/sbin/xenconsoled",
                                 "xen-init-dom0": "/usr/lib/xen/bin/xen-init-dom0"}, "test")
    r = Renderer({"marker": MARKER, "prefix": P, "guest_marker": guests.GUEST_MARKER,
                  "plan": PLAN, "modules": MODULES, "tools": tools, "arch": "x86_64"})
    for name in ("init.j2", "guest-init.j2", "guest-poweroff.j2"):
        script = tmp_path / name
        script.write_text(r.render(f"dom0/{name}"))
        res = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0, f"{name}: {res.stderr}"
    init = (tmp_path / "init.j2").read_text()
    assert "/usr/sbin/xenstored" in init and "insmod /lib/modules/xenfs.ko" in init
    assert f"while [ $c -le {PLAN.cycles} ]" in init
    cfg = r.render("dom0/guest.cfg.j2", name="gen-g1")
    assert 'name = "gen-g1"' in cfg and f"memory = {PLAN.memory}" in cfg
    assert Path(tmp_path / "init.j2").stat().st_size > \
        len(plain(tmp_path, "x86_64")) > 0


def plain(tmp_path: Path, arch: str) -> str:
    """The /init of a boot without guests, checked by sh -n."""
    text = Renderer({"marker": MARKER, "prefix": P, "guest_marker": guests.GUEST_MARKER,
                     "plan": None, "modules": MODULES, "tools": None, "arch": arch}
                    ).render("dom0/init.j2")
    script = tmp_path / f"plain-{arch}"
    script.write_text(text)
    res = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return text


def test_a_dom0_without_guests_prints_the_marker_and_leaves_qemu(tmp_path):
    """Without a guest stage, /init still defines how it leaves QEMU: the
    isa-debug-exit port on x86, a power-off (PSCI SYSTEM_OFF) on Arm64."""
    for arch, way, not_way in (("x86_64", "of=/dev/port", "poweroff"),
                               ("arm64", "poweroff -f", "/dev/port")):
        text = plain(tmp_path, arch)
        assert "xl" not in text and MARKER in text
        assert text.index("leave() {") < text.index(way) < text.rindex("\nleave\n"), arch
        assert not_way not in text, arch


def test_an_initramfs_is_the_same_bytes_whenever_its_files_were_written(tmp_path):
    """Boots are reused by their dom0's initramfs, named by its bytes: the
    same files written a second later must give the same archive."""
    def archive(n: int) -> bytes:
        tree = tmp_path / str(n)
        (tree / "bin").mkdir(parents=True)
        (tree / "init").write_text("#!/bin/sh\n")
        (tree / "bin" / "sh").symlink_to("busybox")
        return cpio(tree)

    first = archive(1)
    time.sleep(1.1)
    assert archive(2) == first
    # ., bin, bin/sh, init and the trailer
    assert gzip.decompress(first).count(b"070701") == 5
