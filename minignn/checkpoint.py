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

import glob
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch

__all__ = ["CHECKPOINT_DIR", "TRAIN_FORMAT", "atomic_write", "save_checkpoint", "load_checkpoint", "load_weights",
           "remove_stale_temporary_files"]

#: Where the shipped checkpoints live: ``minignn/checkpoints`` (QM7 PaiNN, QM9 EDM).
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
#: The format of :class:`minignn.train.Trainer` checkpoints, the one :func:`load_checkpoint` expects by default.
TRAIN_FORMAT = "minignn.train/1"


#: A temporary file of :func:`atomic_write` that no living process owns and that is older than this is removed.
STALE_AFTER_S = 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (owned by someone else), or we cannot tell: keep its file
    return True


def remove_stale_temporary_files(path) -> list[Path]:
    """Remove the temporary files that killed writes of ``path`` left behind; returns the paths removed.

    :func:`atomic_write` names its temporary file ``.<name>.<pid>.<random>.tmp``; a process killed while writing
    (``kill -9``, out of memory, power loss) cannot remove it.  A file of that pattern is removed here when the
    process ``pid`` no longer runs, and in any case once it is older than :data:`STALE_AFTER_S` seconds (a pid can
    be reused, and an older minignn named the file without one).  :func:`atomic_write` calls this before it writes.
    """
    import time

    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        parts = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")  # [pid, random], or [random] (older minignn)
        if len(parts) > 2 or (len(parts) == 2 and not parts[0].isdigit()):
            continue  # the temporary file of another target, e.g. of "<name>.bak"
        pid = int(parts[0]) if len(parts) == 2 else None
        try:
            old = now - tmp.stat().st_mtime > STALE_AFTER_S
            if old or (pid is not None and pid != os.getpid() and not _pid_alive(pid)):
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:  # removed meanwhile by another process
            continue
    return removed


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, make it mode 0644, then ``os.replace(tmp, path)``.

    Creates the folder of ``path`` if needed.  If anything fails the temporary file is removed, ``path``
    keeps its old content, and the exception is raised again.  A temporary file that an earlier, killed write
    of ``path`` left behind is removed first (:func:`remove_stale_temporary_files`).  Returns ``path``.
    """
    if not callable(write):
        raise ValueError(f"write must be a callable write(tmp_path) that writes the file, got {type(write).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporary_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
    if not isinstance(state, dict):
        raise ValueError(f"state must be a dict (of tensors, dicts, lists, numbers and strings), got {type(state).__name__}")
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path, map_location="cpu", *, format: str | tuple = TRAIN_FORMAT, kind: str = "minignn.train",
                    missing_hint: str = "", keys=()) -> dict:
    """Read a checkpoint with ``torch.load(..., weights_only=True)`` (tensors, dicts, lists, numbers, strings).

    The file must be a dict whose ``"format"`` is ``format`` (or one of a tuple of formats) and that holds every entry of ``keys``; ``kind`` names
    it in errors (``"PaiNN"``, ``"EDM"``) and ``missing_hint`` tells how to make a missing file.
    Raises FileNotFoundError or ValueError (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        what = "checkpoint" if kind == "minignn.train" else f"{kind} checkpoint"
        raise FileNotFoundError(f"no {what} at {path}{missing_hint}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read checkpoint {path} (corrupt or half-written file?): {err}") from err
    formats = format if isinstance(format, tuple) else (format,)
    if not isinstance(state, dict) or state.get("format") not in formats:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        article = "an" if kind[:1] in "AEIOUaeiou" else "a"
        expected = repr(formats[0]) if len(formats) == 1 else "one of " + ", ".join(map(repr, formats))
        raise ValueError(f"{path} is not {article} {kind} checkpoint: expected format {expected}, got {got!r}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{path} is an incomplete {kind} checkpoint: it lacks {missing} (corrupt, or written by "
                         f"another version of minignn?); found {sorted(state)}")
    return state


def load_weights(module: torch.nn.Module, weights, path, kind: str = "model") -> None:
    """``module.load_state_dict(weights)`` after checking, naming the file ``path`` in every error: ``weights`` must be a
    dict with exactly the module's keys, each a tensor of the module's shape, floating ones finite (a NaN weight
    would only show up later, as NaN predictions).  Raises ValueError.
    """
    if not isinstance(weights, dict):
        raise ValueError(f"{path}: the {kind} weights must be a dict of tensors (a state_dict), got {type(weights).__name__}")
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path} does not fit the {kind} its config describes: missing weights {missing[:4]}"
                         f"{'...' if len(missing) > 4 else ''}, unexpected weights {unexpected[:4]}"
                         f"{'...' if len(unexpected) > 4 else ''}")
    for name, value in weights.items():
        if not isinstance(value, torch.Tensor) or value.shape != own[name].shape:
            got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{path}: weight {name!r} has shape {got} but the {kind} its config describes needs "
                             f"{list(own[name].shape)} (corrupt file, or a config that does not match the weights)")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: weight {name!r} holds NaN or infinite values (a corrupt file, or a training "
                             "run that diverged); it cannot be used")
    module.load_state_dict(weights)
