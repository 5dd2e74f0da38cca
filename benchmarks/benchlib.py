"""What the benchmark scripts share: paths, the peer tools, running a command, machine facts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "samples" / "pcap"
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
INSTALL_HINT = "apt-get install libndpi-bin tcpreplay wireshark-common"
# Which Debian package gives each peer tool (for the one-line error when one is missing).
PACKAGE_OF = {"ndpiReader": "libndpi-bin", "tcprewrite": "tcpreplay", "editcap": "wireshark-common",
              "mergecap": "wireshark-common", "capinfos": "wireshark-common"}


class BenchError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        packages = ", ".join(sorted({PACKAGE_OF.get(n, n) for n in missing}))
        raise BenchError(f"missing {', '.join(missing)} (Debian {packages}); install with: {INSTALL_HINT}")


def minescope_command() -> list[str]:
    """The installed ``minescope`` script of this interpreter's environment (the venv's)."""
    beside = Path(sys.executable).parent / "minescope"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("minescope")
    if found:
        return [found]
    raise BenchError("minescope is not installed here; run `make test` once, then "
                     "`. .venv/bin/activate` (or use .venv/bin/python)")


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; a non-zero exit becomes a one-line BenchError."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"`{' '.join(cmd[:3])} …` exited {proc.returncode}: {last}")
    return proc


def ndpi_version() -> str | None:
    if shutil.which("ndpiReader") is None:
        return None
    proc = subprocess.run(["ndpiReader", "-h"], capture_output=True, text=True, check=False)
    m = re.search(r"nDPI\s+([\d.]+)", proc.stdout + proc.stderr)
    return m.group(1) if m else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def source_state() -> dict[str, Any]:
    """The commit benchmarked and whether src/ had uncommitted changes (read-only git queries)."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "src_modified": bool(git("status", "--porcelain", "--", "src"))}


def source_stamp() -> float:
    """Newest modification time under src/ (to notice the code changing during a run)."""
    return max((p.stat().st_mtime for p in (ROOT / "src").rglob("*.py")), default=0.0)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "minescope": _version("minescope"),
        "numba": _version("numba"),
        "numpy": _version("numpy"),
        "ndpi": ndpi_version(),
        **source_state(),
    }
