"""Is this machine ready for the book?  ``python -m minignn.doctor`` (or ``make check-setup``).

A workshop participant runs it before the day.  Offline and in a few seconds it checks, one line each,

* the Python version and the packages the chapters import (torch, numpy, ..., RDKit, py3Dmol),
  with the optional ones (torch-scatter, e3nn, torch_geometric) marked as such;
* the data: the QM7 file (``$MINIGNN_DATA``, then the cache; never downloaded here) and QM9 (the
  ``qm9pack`` package's files);
* the two shipped checkpoints, loaded as the chapters load them (PaiNN on QM7, EDM on QM9);

and prints what is missing with the command that fixes it.  Exit status 0 when everything required is
there (optional packages may be missing), 1 otherwise.

Book: chapter teachers, section "Before the day".
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Check", "STATUSES", "PACKAGES", "check_import", "check_python", "check_qm7", "check_qm9", "check_checkpoints",
           "run_checks", "report", "main"]

PIP = "pip install"

# (import name, pip name, required, what for)
PACKAGES = (
    ("torch", "torch", True, "every chapter"),
    ("numpy", "numpy", True, "every chapter"),
    ("scipy", "scipy", True, "the Laplacian chapter"),
    ("networkx", "networkx", True, "the graphs chapters"),
    ("matplotlib", "matplotlib", True, "every figure"),
    ("pandas", "pandas", True, "the tables"),
    ("rdkit", "rdkit", True, "the QM7 and diffusion chapters (bonds, SMILES)"),
    ("py3Dmol", "py3Dmol", True, "the 3D views of molecules"),
    ("sklearn", "scikit-learn", True, "the kernel baseline of the QM7 chapter"),
    ("torch_scatter", "torch-scatter", False, "faster aggregation (minignn works without it, same results)"),
    ("e3nn", "e3nn", False, "the tests' oracle for spherical harmonics"),
    ("torch_geometric", "torch_geometric", False, "the tests' oracle for message passing"),
)


STATUSES = ("ok", "missing", "optional", "warning")


@dataclass
class Check:
    """One line of the report: ``status`` is "ok", "missing" (required), "optional" (missing, not needed) or
    "warning"; ``fix`` says what to do when it is not "ok"."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def failed(self) -> bool:
        return self.status == "missing"


def check_python(minimum: tuple[int, int] = (3, 10)) -> Check:
    """The interpreter: at least ``minimum`` (pyproject's requires-python)."""
    if not (isinstance(minimum, tuple) and len(minimum) == 2 and all(type(v) is int for v in minimum)):
        raise ValueError(f"minimum must be a (major, minor) tuple of two ints, got {minimum!r}")
    version = platform.python_version()
    if sys.version_info[:2] >= minimum:
        return Check("python", "ok", version)
    return Check("python", "missing", f"{version} < {minimum[0]}.{minimum[1]}",
                 f"install Python {minimum[0]}.{minimum[1]} or newer and create the environment again (make book)")


def check_import(module: str, pip_name: str | None = None, required: bool = True, purpose: str = "") -> Check:
    """Import ``module``; on failure say how to install it (``pip install <pip_name>``)."""
    if not isinstance(module, str) or not module:
        raise ValueError(f"module must be a module name (a non-empty str), got {module!r}")
    if not isinstance(required, bool):
        raise ValueError(f"required must be True or False, got {required!r}")
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # ImportError, or a broken build raising something else on import
        status = "missing" if required else "optional"
        why = f"{type(err).__name__}: {err}".splitlines()[0]
        fix = f"{PIP} {pip_name or module}"
        if module == "torch_scatter":
            fix = f"{PIP} --no-build-isolation torch-scatter (after torch; or do without it)"
        return Check(module, status, f"not importable ({why})" + (f"; needed for {purpose}" if purpose else ""), fix)
    return Check(module, "ok", str(getattr(mod, "__version__", "installed")))


def check_qm7() -> Check:
    """The QM7 file, found without downloading (``$MINIGNN_DATA``, then the cache), and readable."""
    from minignn.datasets.qm7 import find_qm7

    try:
        path = find_qm7(download=False)
    except FileNotFoundError as err:
        return Check("QM7 data", "missing", str(err).split(". ")[0],
                     "python -c 'import minignn.datasets as d; d.load_qm7()' (downloads it once), or put "
                     "qm7.mat in a folder and set MINIGNN_DATA to that folder")
    try:
        import scipy.io

        keys = sorted(k for k in scipy.io.whosmat(str(path)))
    except Exception as err:
        return Check("QM7 data", "missing", f"{path.name} is not a readable .mat file ({type(err).__name__})",
                     "delete it and download it again")
    needed = {"R", "Z", "T"}
    names = {k[0] for k in keys}
    if not needed <= names:
        return Check("QM7 data", "missing", f"{path.name} lacks {sorted(needed - names)} (has {sorted(names)})",
                     "delete it and download it again")
    return Check("QM7 data", "ok", f"qm7.mat in {describe_folder(path.parent)}")


def describe_folder(folder) -> str:
    """``$MINIGNN_DATA`` or "the cache", not a machine path (the report may be pasted into a chat)."""
    from minignn.datasets.cache import cache_dir, data_dir

    if data_dir() is not None and folder.resolve() == data_dir().resolve():
        return "$MINIGNN_DATA"
    if folder.resolve() == cache_dir(create=False).resolve():
        return "the cache"
    return "a folder given by hand"


def check_qm9(data_dir=None) -> Check:
    """QM9's files, from the ``qm9pack`` package (found, not imported: its ``__init__`` needs setuptools, which the
    loader does not), or from ``data_dir``."""
    from pathlib import Path

    from minignn.datasets.qm9 import qm9pack_data_dir

    try:
        folder = Path(qm9pack_data_dir() if data_dir is None else data_dir)
    except Exception as err:
        return Check("QM9 data", "missing", f"{type(err).__name__}: {err}".splitlines()[0], f"{PIP} qm9pack")
    files = sorted(folder.glob("qm9_part*.csv"))  # what minignn.datasets.load_qm9 reads
    if not files:
        return Check("QM9 data", "missing", f"no qm9_part*.csv files in {'qm9pack' if data_dir is None else 'data_dir'}",
                     f"{PIP} --force-reinstall qm9pack")
    return Check("QM9 data", "ok", f"qm9pack, {len(files)} files")


def check_checkpoints(painn_path=None, edm_path=None) -> list[Check]:
    """The shipped weights (or the files given), loaded as the chapters load them."""
    checks = []
    for name, load, path in (("PaiNN checkpoint (QM7)", _load_painn, painn_path),
                             ("EDM checkpoint (QM9)", _load_edm, edm_path)):
        try:
            detail = load(path)
        except Exception as err:
            checks.append(Check(name, "missing", f"{type(err).__name__}: {err}".splitlines()[0],
                                "reinstall minignn (pip install -e . in the repository, or the wheel)"))
        else:
            checks.append(Check(name, "ok", detail))
    return checks


def _load_painn(path=None) -> str:
    from minignn.painn import load_pretrained

    pretrained = load_pretrained(path)
    return f"{sum(p.numel() for p in pretrained.model.parameters())} parameters"


def _load_edm(path=None) -> str:
    from minignn.edm import load_edm

    model, info = load_edm(path)
    return f"{sum(p.numel() for p in model.parameters())} parameters, {info.get('steps', '?')} training steps"


def run_checks(packages=PACKAGES) -> list[Check]:
    """Every check, in the order of the report (checks needing minignn's data code run only if torch imports).
    ``packages``: rows ``(import name, pip name, required, what for)`` like :data:`PACKAGES`."""
    if not isinstance(packages, (tuple, list)) or not all(isinstance(row, tuple) and len(row) == 4 for row in packages):
        raise ValueError(f"packages must be rows (import name, pip name, required, what for) like PACKAGES, got "
                         f"{packages!r}"[:200])
    checks = [check_python()]
    checks += [check_import(module, pip_name, required, purpose) for module, pip_name, required, purpose in packages]
    if any(c.name == "torch" and c.status == "ok" for c in checks):
        checks += [check_qm7(), check_qm9(), *check_checkpoints()]
    return checks


def report(checks: list[Check], seconds: float | None = None) -> str:
    """The text printed: one line per check, then what to fix."""
    if not isinstance(checks, list) or not checks or not all(isinstance(c, Check) for c in checks):
        raise ValueError(f"checks must be a non-empty list of Check, got {checks!r}"[:200])
    mark = {"ok": "ok", "missing": "MISSING", "optional": "optional", "warning": "warning"}
    width = max(len(c.name) for c in checks)
    lines = [f"  {mark[c.status]:<9} {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c for c in checks if c.failed]
    lines.append("")
    if failed:
        lines.append(f"{len(failed)} required item{'s' if len(failed) > 1 else ''} missing. To fix:")
        lines += [f"  - {c.name}: {c.fix}" for c in failed]
    else:
        lines.append("Everything the book needs is here.")
    optional = [c for c in checks if c.status == "optional"]
    if optional:
        lines.append("Optional, not needed for the chapters: " + "; ".join(f"{c.name} ({c.fix})" for c in optional))
    if seconds is not None:
        lines.append(f"(checked in {seconds:.1f} s)")
    return "\n".join(lines)


def main(argv=None, run: Callable[[], list[Check]] = run_checks) -> int:
    if not callable(run):
        raise ValueError(f"run must be a callable returning a list of Check, got {type(run).__name__}")
    argparse.ArgumentParser(prog="python -m minignn.doctor", description=__doc__.split("\n\n")[0]).parse_args(argv)
    start = time.perf_counter()
    checks = run()
    print(report(checks, time.perf_counter() - start))
    return 1 if any(c.failed for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
