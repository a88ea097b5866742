"""Benchmark results: the sections of ``benchmarks/RESULTS.md`` that the benchmark scripts write and the book quotes.

Each benchmark owns one section of the file, between the lines ``<!-- name:begin -->`` and
``<!-- name:end -->``; writing a section replaces only that section, atomically (a temporary file, then
``os.replace``: :func:`minignn.checkpoint.atomic_write`), under a lock so that two benchmarks finishing
together do not lose each other's figures.

In a checkout of the repository the file is ``benchmarks/RESULTS.md``; an installed wheel carries a copy
(``minignn/benchmark_results.md``), so that a chapter run outside the repository (Colab) reads the same figures.

Book: chapters scatter, qm7 and diffusion (every chapter that quotes a benchmark).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import platform

from minignn.checkpoint import atomic_write

__all__ = ["results_path", "read_section", "write_section", "upsert_row", "section_fields", "section_table", "machine",
           "cpu_model"]

_PACKAGE = pathlib.Path(__file__).resolve().parent
_REPOSITORY_FILE = _PACKAGE.parent / "benchmarks" / "RESULTS.md"
_PACKAGED_FILE = _PACKAGE / "benchmark_results.md"


def results_path() -> pathlib.Path:
    """``benchmarks/RESULTS.md`` of the checkout minignn is imported from, else the copy in the wheel."""
    return _REPOSITORY_FILE if _REPOSITORY_FILE.exists() else _PACKAGED_FILE


def _markers(name: str) -> tuple[str, str]:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"a section name is letters, digits, '_' or '-', got {name!r}")
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def read_section(name: str, path: pathlib.Path | str | None = None) -> str:
    """The text of section ``name`` (without its marker lines); ``ValueError`` if the file lacks it."""
    begin, end = _markers(name)
    path = pathlib.Path(path) if path is not None else results_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the benchmark that writes the '{name}' section")
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no {name} section: run the benchmark that writes it (see benchmarks/README.md)")
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


@contextlib.contextmanager
def _locked(path: pathlib.Path):
    import fcntl

    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upsert_row(name: str, preamble: str, header: list[str], row: dict, key: str,
               path: pathlib.Path | str | None = None) -> pathlib.Path:
    """Put ``row`` into the table of section ``name``, replacing the row whose ``key`` cell is the same, under the
    file lock (runs that finish at the same moment do not lose each other's rows).  The section is ``preamble``
    (its ``- key: value`` lines; rewritten each time) followed by the table with columns ``header``."""
    missing = [h for h in header if h not in row]
    if missing or key not in header:
        raise ValueError(f"row must give every column {header} (missing {missing}) and key must be one of them")
    path = pathlib.Path(path) if path is not None else _REPOSITORY_FILE
    begin, end = _markers(name)
    with _locked(path):
        old = path.read_text() if path.exists() else "# Benchmark results\n"
        rows = []
        if begin in old and end in old:
            rows = [r for r in section_table(old.split(begin, 1)[1].split(end, 1)[0]) if list(r) == header]
        rows = [r for r in rows if r[key] != str(row[key])] + [{h: str(row[h]) for h in header}]
        table = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        table += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
        block = f"{begin}\n{preamble.strip(chr(10))}\n\n" + "\n".join(table) + f"\n{end}"
        if begin in old and end in old:
            head, rest = old.split(begin, 1)
            new = head + block + rest.split(end, 1)[1]
        else:
            new = old.rstrip("\n") + "\n\n" + block + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(new))
    return path


def write_section(name: str, text: str, path: pathlib.Path | str | None = None) -> pathlib.Path:
    """Replace section ``name`` of the results file by ``text`` (append it if absent), leaving the rest untouched.

    ``text`` is the section's body; the marker lines are added here.  The file is written atomically
    (:func:`minignn.checkpoint.atomic_write`) and left readable by everyone (0644).  Returns the path written.
    """
    begin, end = _markers(name)
    path = pathlib.Path(path) if path is not None else _REPOSITORY_FILE
    block = f"{begin}\n{text.strip(chr(10))}\n{end}"
    with _locked(path):
        old = path.read_text() if path.exists() else "# Benchmark results\n"
        if begin in old and end in old:
            head, rest = old.split(begin, 1)
            new = head + block + rest.split(end, 1)[1]
        else:
            new = old.rstrip("\n") + "\n\n" + block + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(new))  # mode 0644
    return path


def section_fields(body: str) -> dict[str, str]:
    """The ``- key: value`` lines of a section as a dict (backquotes around values removed)."""
    fields = {}
    for line in body.splitlines():
        if line.startswith("- ") and ":" in line:
            key, value = (part.strip() for part in line[2:].split(":", 1))
            fields[key] = value.strip("`")
    return fields


def section_table(body: str) -> list[dict[str, str]]:
    """The first markdown table of a section, one dict per row keyed by the header cells (values as text).

    ``| a | b |`` / ``| --- | --- |`` / ``| 1 | 2 |`` gives ``[{"a": "1", "b": "2"}]``.  A row whose number of
    cells differs from the header's raises ``ValueError`` (a table edited by hand and broken).
    """
    lines = [line.strip() for line in body.splitlines()]
    start = next((k for k, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        raise ValueError("the section has no markdown table (no line starting with '|')")

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip("|").split("|")]

    header = cells(lines[start])
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        row = cells(line)
        if all(set(c) <= set("-: ") for c in row):
            continue  # the separator line
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells but the header has {len(header)}: {line!r}")
        rows.append(dict(zip(header, row)))
    return rows


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """What a results section states about the machine: processor, cores, torch threads, versions, load."""
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load": f"{load:.1f}",
    }
