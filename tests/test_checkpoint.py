"""Tests of minignn.checkpoint: the one atomic writer, checkpoints through it, and that every writer uses it."""

import ast
import os
import stat
from pathlib import Path

import pytest
import torch

from minignn import checkpoint, results
from minignn.checkpoint import CHECKPOINT_DIR, atomic_write, load_checkpoint, save_checkpoint
from minignn.datasets import cache

PACKAGE = Path(checkpoint.__file__).resolve().parent


def names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# -- the atomic writer --------------------------------------------------------------------------
def test_atomic_write_writes_the_file_mode_0644_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "folder" / "file.txt"  # missing folders are made
    old_umask = os.umask(0o077)  # a strict umask: the mode is set explicitly, not left to it
    try:
        assert atomic_write(path, lambda tmp: tmp.write_text("hello")) == path
    finally:
        os.umask(old_umask)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert names(path.parent) == ["file.txt"]
    atomic_write(str(path), lambda tmp: tmp.write_bytes(b"again"))  # a str path, over an existing file
    assert path.read_bytes() == b"again" and names(path.parent) == ["file.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "file.bin"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old" and names(tmp_path) == ["file.bin"]

    def interrupted(tmp):  # not an Exception: Ctrl-C while writing
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_text() == "old" and names(tmp_path) == ["file.bin"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    path.write_text("old")

    def boom(*args, **kwargs):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="rename failed"):
        atomic_write(path, lambda tmp: tmp.write_text("new"))
    monkeypatch.undo()
    assert path.read_text() == "old" and names(tmp_path) == ["file.bin"]


# -- checkpoints --------------------------------------------------------------------------------
def test_save_and_load_round_trip_with_weights_only(tmp_path):
    state = {"format": "minignn.train/1", "w": torch.arange(6.0).reshape(2, 3), "epoch": 3, "names": ["a", "b"]}
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and names(path.parent) == ["ck.pt"]
    back = load_checkpoint(path)
    assert torch.equal(back["w"], state["w"]) and back["epoch"] == 3 and back["names"] == ["a", "b"]
    assert torch.load(path, weights_only=True)["epoch"] == 3


def test_failed_save_leaves_the_old_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"format": "minignn.train/1", "epoch": 1})

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half")  # a few bytes, then the disk "fills up"
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"format": "minignn.train/1", "epoch": 2})
    monkeypatch.undo()
    assert names(tmp_path) == ["ck.pt"] and load_checkpoint(path)["epoch"] == 1


def test_load_checkpoint_errors_name_the_kind_and_how_to_make_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match=r"no EDM checkpoint at .*missing.pt \(run the benchmark\)"):
        load_checkpoint(tmp_path / "missing.pt", format="minignn.edm/1", kind="EDM", missing_hint=" (run the benchmark)")
    save_checkpoint(tmp_path / "ok.pt", {"format": "minignn.train/1"})
    (tmp_path / "half.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match="corrupt or half-written"):
        load_checkpoint(tmp_path / "half.pt")
    with pytest.raises(ValueError, match="is not an EDM checkpoint: expected format 'minignn.edm/1', got 'minignn.train/1'"):
        load_checkpoint(tmp_path / "ok.pt", format="minignn.edm/1", kind="EDM")
    with pytest.raises(ValueError, match="is not a PaiNN checkpoint"):
        load_checkpoint(tmp_path / "ok.pt", format="minignn.painn/1", kind="PaiNN")
    with pytest.raises(ValueError, match="is not a NequIP or MACE checkpoint: expected format one of 'minignn.nequip/1', "
                                         "'minignn.mace/1', got 'minignn.train/1'"):
        load_checkpoint(tmp_path / "ok.pt", format=("minignn.nequip/1", "minignn.mace/1"), kind="NequIP or MACE")
    assert load_checkpoint(tmp_path / "ok.pt", format=("minignn.painn/1", "minignn.train/1"))["format"] == "minignn.train/1"
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a minignn.train checkpoint: expected format 'minignn.train/1', got 'list'"):
        load_checkpoint(tmp_path / "list.pt")


def test_checkpoint_dir_is_defined_once():
    from minignn import edm, painn

    assert CHECKPOINT_DIR.resolve() == PACKAGE / "checkpoints"
    assert painn.CHECKPOINT_DIR is CHECKPOINT_DIR and edm.CHECKPOINT_DIR is CHECKPOINT_DIR
    assert painn.qm7_checkpoint_path().parent == edm.qm9_checkpoint_path().parent == CHECKPOINT_DIR


# -- one writer ---------------------------------------------------------------------------------
def test_checkpoints_results_and_the_dataset_cache_all_write_through_it(tmp_path, monkeypatch):
    from minignn.datasets import qm9

    assert cache.atomic_write is atomic_write and qm9.atomic_write is atomic_write  # the dataset cache
    assert results.atomic_write is atomic_write
    calls = []

    def spy(path, write):
        calls.append(Path(path).name)
        return atomic_write(path, write)

    monkeypatch.setattr(checkpoint, "atomic_write", spy)  # save_checkpoint looks it up when called
    monkeypatch.setattr(results, "atomic_write", spy)
    save_checkpoint(tmp_path / "ck.pt", {"format": "x"})
    results.write_section("alpha", "one", tmp_path / "RESULTS.md")
    assert calls == ["ck.pt", "RESULTS.md"]


def test_no_other_module_of_minignn_renames_or_makes_temporary_files():
    """Every file minignn writes goes through checkpoint.atomic_write: nobody else calls os.replace or tempfile."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "checkpoint.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    (node.value.id, node.attr) in {("os", "replace"), ("os", "rename"), ("shutil", "move")}:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value.id}.{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "tempfile" in modules:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} import tempfile")
    assert offenders == [], "write files with minignn.checkpoint.atomic_write instead: " + ", ".join(offenders)
