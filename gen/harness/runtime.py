"""The harness at run time: a loaded module's functions, checked for traps,
and what the code under test recorded (WARN, BUG, failed ASSERT, fault)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gen.harness.compile import Spec

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


class Harness:
    """A loaded module.  h.NAME(...) calls the C function h_NAME and raises
    XenTrap if the code under test hit a BUG, an ASSERT or a fault."""

    def __init__(self, module: Any, spec: Spec) -> None:
        self.ffi = module.ffi
        self.lib = module.lib
        self.spec = spec
        self.traits = spec.traits

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
