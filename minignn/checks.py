r"""Checks of plain arguments: integers, real numbers and flags, with errors that name the argument.

Sizes and counts (``num_nodes``, ``dim_size``, ``layers``, ``steps``...) are integers: a Python ``int``, a
NumPy integer (``np.int64(3)``) or a 0-d integer tensor (``torch.tensor(3)``) are all accepted and
returned as a Python ``int``; a ``bool``, a float (even ``2.0``, and never truncated: ``2.5`` is an error)
or a string is rejected.  Real settings (a learning rate, a cutoff) accept the same integers and floats
(NumPy or 0-d tensors too) and must be finite unless said otherwise.  Every error is a ``ValueError`` of the
form ``"<name> must be <what was expected>, got <what was given>"``.

Tensors of indices and positions have their own validators, :func:`minignn.graph.check_edge_index` and
:func:`minignn.geometry.check_pos`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = ["describe", "check_int", "check_number", "check_bool"]


def describe(value) -> str:
    """A short description of ``value`` for an error message: ``2.5 (float)``, ``a float32 tensor of shape [3]``."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {list(value.shape)}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _scalar(value):
    """``value`` as a Python scalar if it is a number (Python, NumPy or a 0-d tensor), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex():
            return None
        return value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def check_int(value, name: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    r"""An integer argument, returned as a Python ``int``: :math:`\text{minimum} \le \text{value} \le \text{maximum}`.

    Accepts a Python ``int``, a NumPy integer or a 0-d integer tensor; rejects a ``bool``, any float (``2.5`` is
    not truncated to 2, and ``2.0`` is not taken for 2 either), a string, None, and values out of range.

    Args:
        value: the argument; name: its name in the message.
        minimum, maximum: the allowed range (inclusive; None: unbounded).

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got <value>"``.
    """
    v = _scalar(value)
    ok = isinstance(v, int) and not (isinstance(value, torch.Tensor) and value.is_floating_point())
    if ok and (minimum is None or v >= minimum) and (maximum is None or v <= maximum):
        return v
    bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
    want = " and ".join(b for b in bounds if b)
    raise ValueError(f"{name} must be an integer{' ' + want if want else ''}, got {describe(value)}")


def check_number(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 strict_minimum: bool = False, finite: bool = True) -> float:
    r"""A real argument, returned as a Python ``float``: finite (unless ``finite=False``) and in range.

    Accepts Python ints and floats, NumPy numbers and 0-d tensors; rejects bools, strings, None, NaN
    (always), infinities (when ``finite``) and values out of range (``value > minimum`` when ``strict_minimum``,
    else ``value >= minimum``; ``value <= maximum``).

    Raises:
        ValueError: ``"<name> must be a finite number > 0, got -1 (int)"``.
    """
    v = _scalar(value)
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict_minimum else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    want = ("a finite number" if finite else "a number") + (" " + " and ".join(bounds) if bounds else "")
    if v is None or math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{name} must be {want}, got {describe(value)}")
    v = float(v)
    if minimum is not None and (v <= minimum if strict_minimum else v < minimum):
        raise ValueError(f"{name} must be {want}, got {describe(value)}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be {want}, got {describe(value)}")
    return v


def check_bool(value, name: str) -> bool:
    """A flag: ``True`` or ``False`` (or a NumPy bool); a string such as ``"false"`` is rejected, not read as True.

    Raises:
        ValueError: ``"<name> must be True or False, got 'false' (str)"``.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {describe(value)}")
