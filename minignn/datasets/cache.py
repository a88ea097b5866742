"""Where data files live, and how they are written: the user cache and atomic writes.

* ``$MINIGNN_DATA``: a folder of data files placed by hand (read only; e.g. ``../shared/data``).
* ``cache_dir()``: ``$MINIGNN_CACHE`` if set, else ``platformdirs.user_cache_dir("minignn")``
  (``~/.cache/minignn`` on Linux); downloads and parsed caches go there.
* ``$MINIGNN_NO_DOWNLOAD=1`` forbids every download (as ``download=False`` does).

Every file minignn writes goes through one writer, :func:`minignn.checkpoint.atomic_write`
(re-exported here for the dataset loaders): first a temporary file in the same folder,
then :func:`os.replace` over the target, which is atomic: a reader sees the old file or
the new one, never half of one.

Book: chapter qm7, section "The data".
"""

from __future__ import annotations

import os
from pathlib import Path

from minignn.checkpoint import atomic_write

__all__ = ["cache_dir", "data_dir", "downloads_allowed", "atomic_write"]


def cache_dir(create: bool = True) -> Path:
    """The cache folder: ``$MINIGNN_CACHE`` or ``platformdirs.user_cache_dir("minignn")``."""
    env = os.environ.get("MINIGNN_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        try:
            import platformdirs

            path = Path(platformdirs.user_cache_dir("minignn"))
        except ImportError:  # platformdirs is the reference; without it, the XDG default
            path = Path.home() / ".cache" / "minignn"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """The folder named by ``$MINIGNN_DATA``, or None when it is unset or empty."""
    env = os.environ.get("MINIGNN_DATA")
    return Path(env).expanduser() if env else None


def downloads_allowed(download: bool | None = None) -> bool:
    """``download`` if given, else False when ``$MINIGNN_NO_DOWNLOAD`` is set to 1/true/yes."""
    if download is not None:
        return bool(download)
    return os.environ.get("MINIGNN_NO_DOWNLOAD", "").strip().lower() not in ("1", "true", "yes")

