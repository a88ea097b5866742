"""Where data files live, and how they are written: the user cache and atomic writes.

* ``$MINIGNN_DATA``: a folder of data files placed by hand (read only; e.g. ``../shared/data``).
* ``cache_dir()``: ``$MINIGNN_CACHE`` if set, else ``platformdirs.user_cache_dir("minignn")``
  (``~/.cache/minignn`` on Linux); downloads and parsed caches go there.
* ``$MINIGNN_NO_DOWNLOAD=1`` forbids every download (as ``download=False`` does), even one asked for with
  ``download=True``; any value other than 1/true/yes/on or 0/false/no/off (or unset) is an error.

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

__all__ = ["cache_dir", "data_dir", "downloads_allowed", "downloads_forbidden_by_environment", "NO_DOWNLOAD_ON",
           "NO_DOWNLOAD_OFF", "atomic_write"]


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


#: Values of ``$MINIGNN_NO_DOWNLOAD`` that forbid downloads, and those that allow them (unset is the same as "").
NO_DOWNLOAD_ON = ("1", "true", "yes", "on")
NO_DOWNLOAD_OFF = ("", "0", "false", "no", "off")


def downloads_forbidden_by_environment() -> bool:
    """True when ``$MINIGNN_NO_DOWNLOAD`` is 1/true/yes/on (any case); False when unset or 0/false/no/off.

    Raises ValueError for any other value: a typo such as ``MINIGNN_NO_DOWNLOAD=ture`` must not allow downloads.
    """
    value = os.environ.get("MINIGNN_NO_DOWNLOAD", "").strip().lower()
    if value in NO_DOWNLOAD_ON:
        return True
    if value in NO_DOWNLOAD_OFF:
        return False
    raise ValueError(f"MINIGNN_NO_DOWNLOAD must be one of {NO_DOWNLOAD_ON} (forbid downloads) or {NO_DOWNLOAD_OFF[1:]} "
                     f"(allow them), got {os.environ['MINIGNN_NO_DOWNLOAD']!r}")


def downloads_allowed(download: bool | None = None) -> bool:
    """Whether a loader may download: never when ``$MINIGNN_NO_DOWNLOAD`` is set to 1/true/yes/on (it forbids every
    download, ``download=True`` included); otherwise ``download`` (True or False), or True when it is None.

    ``download`` must be None, True or False: a string such as ``"false"`` raises ValueError instead of being read
    as True.
    """
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download must be None, True or False, got {download!r} ({type(download).__name__}); "
                         "a string such as 'false' is not read as False")
    if downloads_forbidden_by_environment():
        return False
    return True if download is None else download

