"""Debian archive access through a private apt configuration.

Nothing under /etc/apt is changed: a private apt.conf points apt at our own
source list (derived from the machine's), lists and archive cache, so a user
without root can fetch Xen's source package and the dom0 kernel.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gen.errors import GenError

# Debian release codenames, oldest first.  Only used to look for suites newer
# than the ones this machine already lists; the mirror is never named here.
CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky")

SYSTEM_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


@dataclass(frozen=True)
class Stanza:
    """One deb822 source entry."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None

    def render(self, types: str) -> str:
        lines = [f"Types: {types}", f"URIs: {' '.join(self.uris)}",
                 f"Suites: {' '.join(self.suites)}",
                 f"Components: {' '.join(self.components)}"]
        if self.signed_by:
            lines.append(f"Signed-By: {self.signed_by}")
        return "\n".join(lines) + "\n"


def parse_deb822(text: str) -> list[Stanza]:
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or "uris" not in fields:
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        stanzas.append(Stanza(tuple(fields["uris"].split()), tuple(fields["suites"].split()),
                              tuple(fields.get("components", "main").split()),
                              fields.get("signed-by")))
    return stanzas


def parse_one_line(text: str) -> list[Stanza]:
    stanzas = []
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":
            stanzas.append(Stanza((line[1],), (line[2],), tuple(line[3:]) or ("main",), None))
    return stanzas


def with_newer_suites(stanza: Stanza) -> Stanza:
    """Add the suites of newer releases next to each listed one, newest first:
    bookworm-security also yields trixie-security and so on."""
    suites: list[str] = []
    for suite in stanza.suites:
        base, sep, tail = suite.partition("-")
        if base in CODENAMES:
            for name in reversed(CODENAMES[CODENAMES.index(base):]):
                candidate = name + sep + tail
                if candidate not in suites:
                    suites.append(candidate)
        elif suite not in suites:
            suites.append(suite)
    return Stanza(stanza.uris, tuple(suites), stanza.components, stanza.signed_by)


def system_stanzas() -> list[Stanza]:
    stanzas: list[Stanza] = []
    one_line, parts = SYSTEM_SOURCES
    if one_line.is_file():
        stanzas += parse_one_line(one_line.read_text())
    if parts.is_dir():
        for f in sorted(parts.iterdir()):
            if f.suffix == ".sources":
                stanzas += parse_deb822(f.read_text())
            elif f.suffix == ".list":
                stanzas += parse_one_line(f.read_text())
    return stanzas


def compare_versions(a: str, b: str) -> int:
    """Debian version comparison, delegated to dpkg."""
    if a == b:
        return 0
    gt = subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False)
    return 1 if gt.returncode == 0 else -1


class Apt:
    """apt-get and apt-cache with a private configuration rooted at `root`.

    With newer_suites, the suites of newer Debian releases are listed too
    (a source package may only be served there); without, exactly the
    machine's own suites, so binary packages match the machine's release.
    With arch, the binary packages are that architecture's, downloaded and
    unpacked, never installed.
    """

    def __init__(self, root: Path, newer_suites: bool = True, arch: str | None = None) -> None:
        self.root = root
        self.conf = root / "apt.conf"
        self.newer_suites = newer_suites
        self.arch = arch  # a foreign architecture's packages, for download only

    def prepare(self) -> None:
        stanzas = system_stanzas()
        if not stanzas:
            raise GenError("no Debian apt sources found under /etc/apt",
                           hint="this needs a Debian machine, or pass --xen PATH")
        parts = self.root / "sources"
        for d in (parts, self.root / "lists" / "partial",
                  self.root / "cache" / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        if self.newer_suites:
            stanzas = [with_newer_suites(s) for s in stanzas]
        text = "\n".join(s.render("deb deb-src") for s in stanzas)
        (parts / "gen.sources").write_text(text)
        conf = [
            'Dir::Etc::SourceList "/dev/null";',
            f'Dir::Etc::SourceParts "{parts}";',
            f'Dir::State::Lists "{self.root / "lists"}";',
            f'Dir::Cache "{self.root / "cache"}";',
            'Dir::State::Status "/var/lib/dpkg/status";',
            'Acquire::Languages "none";',
        ]
        if self.arch:
            conf += [f'APT::Architecture "{self.arch}";',
                     f'APT::Architectures {{ "{self.arch}"; }};']
        if os.geteuid() == 0:
            # Root would otherwise hand downloads to the _apt user, which
            # cannot write into a private directory.
            conf.append('APT::Sandbox::User "root";')
        self.conf.write_text("\n".join(conf) + "\n")
        # Newer suites may not exist on this mirror: missing ones are fine as
        # long as some index arrived.
        res = self._run(["apt-get", "update", "-q"], what="apt-get update", check=False)
        if not any((self.root / "lists").glob("*_Sources*")):
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise GenError("apt-get update fetched no source index: " + " / ".join(tail))

    def _run(self, cmd: list[str], what: str, cwd: Path | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, APT_CONFIG=str(self.conf), LC_ALL="C")
        try:
            res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                                 check=False)
        except FileNotFoundError as e:
            raise GenError(f"{cmd[0]} is not installed", hint="this needs Debian's apt") from e
        if check and res.returncode:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise GenError(f"{what} failed: {' / '.join(tail)}")
        return res

    def source_versions(self, package: str) -> list[str]:
        """Versions of a source package in the index, newest first."""
        res = self._run(["apt-cache", "showsrc", package], what="apt-cache showsrc",
                        check=False)
        versions = {m.group(1) for m in re.finditer(r"^Version: (\S+)$", res.stdout, re.M)}
        return sorted(versions, key=functools.cmp_to_key(compare_versions), reverse=True)

    def download_source(self, package: str, version: str, dest: Path) -> bool:
        """Try to download one source version; False if its files are not served."""
        dest.mkdir(parents=True, exist_ok=True)
        res = self._run(["apt-get", "source", "--download-only", f"{package}={version}"],
                        what="apt-get source", cwd=dest, check=False)
        return res.returncode == 0

    def depends(self, package: str) -> list[str]:
        res = self._run(["apt-cache", "depends", package], what="apt-cache depends")
        return re.findall(r"^\s+Depends: (\S+)$", res.stdout, re.M)

    def download_binary(self, package: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        self._run(["apt-get", "download", package], what=f"apt-get download {package}",
                  cwd=dest)
        debs = sorted(dest.glob(f"{package}_*.deb"))
        if not debs:
            raise GenError(f"apt-get download {package} produced no .deb")
        return debs[-1]
