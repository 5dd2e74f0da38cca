"""The packet path compiled by numba for large captures, interpreted for small ones: one source for both.

``packets`` is plain Python over numpy arrays; ``@jit`` marks the functions numba compiles. numba costs about
0.4 s in every process before its first compiled call runs, even from its on-disk cache (importing it, then
building its typing and target contexts), while the interpreter reads a capture of a few thousand packets in
less. ``engine(compiled)`` gives the functions to run: the module itself, or the same functions compiled (once
per process, machine code from numba's cache). Both give the same flows, field for field
(tests/dimensions/network/capture/test_engines.py, over the bundled captures).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Captures up to this many bytes on disk are read interpreted: about 50 µs a packet against numba's fixed
# 0.4 s, so they meet near 8,000 packets, 1 MiB of small ones (docs/benchmarks.md, "Start-up").
INTERPRET_MAX_BYTES = 1024 * 1024

_compiled: dict[str, types.SimpleNamespace] = {}


def jit(**options: Any) -> Callable[[F], F]:
    """Mark a function numba compiles (``njit`` with ``cache=True`` and these options); it stays plain Python
    for the interpreted engine."""

    def mark(fn: F) -> F:
        fn.__jit_options__ = options  # type: ignore[attr-defined]
        return fn

    return mark


def compiled_for(size: int | None) -> bool:
    """Whether a capture of ``size`` bytes (None: unknown, a live interface) runs compiled: large ones do, and
    any once this process has paid numba's fixed cost."""
    return size is None or size > INTERPRET_MAX_BYTES or bool(_compiled)


def compile_module(module: types.ModuleType) -> types.SimpleNamespace:
    """The module's ``@jit`` functions compiled, by name (numba dispatchers, loaded from its cache).

    Each is compiled from a copy that sees the compiled versions of the others, so the module itself stays
    interpreted. numba's cache is keyed by source file, name and line, which the copies keep."""
    done = _compiled.get(module.__name__)
    if done is not None:
        return done
    from numba import njit

    marked = {name: fn for name, fn in vars(module).items() if hasattr(fn, "__jit_options__")}
    scope = dict(vars(module))
    out = types.SimpleNamespace()
    for name, fn in marked.items():
        twin = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
        twin.__qualname__ = fn.__qualname__
        twin.__module__ = fn.__module__
        scope[name] = njit(cache=True, **fn.__jit_options__)(twin)
        setattr(out, name, scope[name])
    _compiled[module.__name__] = out
    return out
