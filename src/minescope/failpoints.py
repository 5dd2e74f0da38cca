"""Failpoints: named places inside write transactions where the fault-injection tests stop the process.

    failpoint("store.findings")     # does nothing unless $MINESCOPE_FAILPOINT names this point

``MINESCOPE_FAILPOINT`` (``minescope.settings.FAILPOINT``) is ``NAME`` or ``NAME:ACTION``, several
separated by commas. When the running code reaches a named point, it writes one marker line to
stderr (``minescope failpoint NAME: ACTION``) and then, by ACTION:

- ``pause`` (the default): sleeps up to 60 s, so that a test that saw the marker can send a signal
  from outside the process; then goes on;
- ``kill9``, ``sigint``, ``sigterm``: sends itself SIGKILL, SIGINT or SIGTERM, which lands exactly
  here (SIGINT becomes KeyboardInterrupt at the next bytecode, as Ctrl-C would);
- ``raise``: raises ``OSError(EIO)``, as a disk or a server failing mid-transaction would.

Unset (always, outside the tests), a failpoint costs one dictionary look-up of a cached parse.
The points are the start and middle of each write transaction; ``tests/faults/`` lists them.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

from minescope import settings

ACTIONS = ("pause", "kill9", "sigint", "sigterm", "raise")
PAUSE_S = 60.0
_SIGNALS = {"kill9": signal.SIGKILL, "sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
_parsed: tuple[str | None, dict[str, str]] = (None, {})


def armed() -> dict[str, str]:
    """The points the environment names, with their actions (parsed once per value of the variable)."""
    global _parsed
    raw = settings.FAILPOINT.raw()
    if raw != _parsed[0]:
        points: dict[str, str] = {}
        for item in (raw or "").split(","):
            name, _, action = item.strip().partition(":")
            if name:
                points[name] = action.strip() or "pause"
        _parsed = (raw, points)
    return _parsed[1]


def failpoint(name: str) -> None:
    """Stop, kill or interrupt the process here if ``MINESCOPE_FAILPOINT`` names ``name``; else nothing."""
    action = armed().get(name)
    if action is None:
        return
    sys.stderr.write(f"minescope failpoint {name}: {action}\n")
    sys.stderr.flush()
    if action in _SIGNALS:
        os.kill(os.getpid(), _SIGNALS[action])
        time.sleep(0.5)  # SIGINT is handled between bytecodes; the others end the process before this returns
    elif action == "raise":
        raise OSError(errno.EIO, f"failpoint {name}")
    else:
        time.sleep(PAUSE_S)
