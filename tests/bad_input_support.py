"""The table format of the bad-input suite (tests/test_bad_input*.py): one ``Case`` per bad input.

A case either expects a clear error, raised by minignn itself (not by torch or numpy), whose message names the
argument that was wrong (``bad``), or a finite, correct result (``good``: the input was valid, or the function must
handle it, e.g. coincident atoms in a feature function).  ``KINDS`` are the classes of bad input counted in the
summary.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

KINDS = {
    "dtype": "wrong dtype or Python type (a float where an int is needed, a string for a flag, int features)",
    "shape": "wrong shape or width",
    "range": "values out of range (indices, atomic numbers, bond orders, times, fractions, int64 overflow)",
    "empty": "empty input (no graphs, no edges, no molecules)",
    "nan": "NaN or inf",
    "coincident": "two atoms at the same position",
    "size": "negative or fractional sizes and counts",
    "option": "a wrong option string or callable",
    "device": "a tensor on another device than the model (meta tensors stand in for a GPU)",
    "file": "missing, corrupt, incomplete or stale files and environment settings",
    "valid": "valid input that must be accepted (NumPy and 0-d tensor integers) with the correct result",
}


@dataclass
class Case:
    target: object  # the public function or class that receives the bad input
    kind: str  # a key of KINDS
    call: Callable[[], object]
    arg: str | None = None  # the argument the error message must name
    match: str | None = None  # a further regular expression the message must match
    exc: type | None = ValueError  # None: a result is expected, checked by `check`
    check: Callable[[object], bool] | None = None

    @property
    def id(self) -> str:
        name = getattr(self.target, "__qualname__", getattr(self.target, "__name__", str(self.target)))
        return f"{name}-{self.kind}"


def bad(target, kind, arg, call, match=None, exc=ValueError) -> Case:
    """``call()`` must raise ``exc`` from inside minignn, with ``arg`` (and ``match``) in the message."""
    assert kind in KINDS, kind
    return Case(target, kind, call, arg, match, exc)


def good(target, kind, call, check) -> Case:
    """``call()`` must return a result for which ``check(result)`` is true (finite and correct)."""
    assert kind in KINDS, kind
    return Case(target, kind, call, exc=None, check=check)


def finite(t) -> bool:
    """Every entry of a tensor (or of a tuple of tensors) is finite."""
    if isinstance(t, (tuple, list)):
        return all(finite(x) for x in t)
    return isinstance(t, torch.Tensor) and bool(torch.isfinite(t).all())


def raises_in_minignn(info) -> bool:
    """The exception was raised by minignn's own code (its last frame is a file of the package), not deep in torch."""
    frames = [str(entry.path) for entry in info.traceback]
    return bool(frames) and f"{os.sep}minignn{os.sep}" in frames[-1]


def run_case(case: Case, pytest, tmp_path) -> None:
    """Run one case; a ``call`` with one parameter gets a fresh folder (pytest's ``tmp_path``) for its files."""
    call = (lambda: case.call(tmp_path)) if case.call.__code__.co_argcount == 1 else case.call
    if case.exc is None:
        out = call()
        assert case.check(out), f"{case.id}: unexpected result {out!r}"
        return
    with pytest.raises(case.exc) as info:
        call()
    message = str(info.value)
    assert raises_in_minignn(info), f"{case.id}: raised outside minignn: {info.traceback[-1].path}: {message}"
    assert case.arg and case.arg in message, f"{case.id}: the message does not name {case.arg!r}: {message}"
    if case.match:
        assert re.search(case.match, message), f"{case.id}: {message!r} does not match {case.match!r}"


@contextmanager
def environment(**values):
    """Set (a str) or unset (None) environment variables for the duration of a block."""
    def apply(mapping):
        for k, v in mapping.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    old = {k: os.environ.get(k) for k in values}
    try:
        apply(values)
        yield
    finally:
        apply(old)


def with_env(call, **values):
    """``call()`` with the environment variables ``values`` set."""
    def run():
        with environment(**values):
            return call()
    return run
