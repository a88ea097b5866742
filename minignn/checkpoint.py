r"""Checkpoints and every other file minignn writes: one atomic writer.

$$\text{write}(\text{tmp}) \;\to\; \operatorname{chmod}(\text{tmp}, 0644) \;\to\; \texttt{os.replace}(\text{tmp}, \text{path})$$

:func:`atomic_write` writes to a temporary file in the folder of ``path`` (the same file system), then
renames it over ``path`` with :func:`os.replace`, which is atomic: a reader sees the old file or the new
one, never half of one.  If anything fails the temporary file is removed, ``path`` is untouched, and the
error is raised again.  Its three users: :func:`save_checkpoint` (the :class:`minignn.train.Trainer`,
:func:`minignn.painn.save_pretrained`, :func:`minignn.edm.save_edm`), the dataset cache
(:mod:`minignn.datasets.cache`) and the benchmark results (:func:`minignn.results.write_section`).

A checkpoint is a dict of tensors, dicts, lists, numbers and strings with a ``"format"`` key; it is read
back with ``torch.load(..., weights_only=True)``, which runs no pickled code.  The shipped ones live in
:data:`CHECKPOINT_DIR` (inside the package, so they work from a wheel).

Book: chapter qm7, section "A network with scalar and vector features".
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import torch

__all__ = ["CHECKPOINT_DIR", "TRAIN_FORMAT", "atomic_write", "save_checkpoint", "load_checkpoint"]

#: Where the shipped checkpoints live: ``minignn/checkpoints`` (QM7 PaiNN, QM9 EDM).
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
#: The format of :class:`minignn.train.Trainer` checkpoints, the one :func:`load_checkpoint` expects by default.
TRAIN_FORMAT = "minignn.train/1"


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, make it mode 0644, then ``os.replace(tmp, path)``.

    Creates the folder of ``path`` if needed.  If anything fails the temporary file is removed, ``path``
    keeps its old content, and the exception is raised again.  Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and checkpoints are read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(path, state: dict) -> Path:
    """``torch.save(state)`` through :func:`atomic_write`: never half-written.  Returns ``path``."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path, map_location="cpu", *, format: str = TRAIN_FORMAT, kind: str = "minignn.train",
                    missing_hint: str = "") -> dict:
    """Read a checkpoint with ``torch.load(..., weights_only=True)`` (tensors, dicts, lists, numbers, strings).

    The file must be a dict whose ``"format"`` is ``format``; ``kind`` names it in errors (``"PaiNN"``, ``"EDM"``)
    and ``missing_hint`` tells how to make a missing file.  Raises FileNotFoundError or ValueError.
    """
    path = Path(path)
    if not path.is_file():
        what = "checkpoint" if kind == "minignn.train" else f"{kind} checkpoint"
        raise FileNotFoundError(f"no {what} at {path}{missing_hint}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read checkpoint {path} (corrupt or half-written file?): {err}") from err
    if not isinstance(state, dict) or state.get("format") != format:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        article = "an" if kind[:1] in "AEIOUaeiou" else "a"
        raise ValueError(f"{path} is not {article} {kind} checkpoint: expected format {format!r}, got {got!r}")
    return state
