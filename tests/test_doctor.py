"""``python -m minignn.doctor``: the setup check a workshop participant runs before the day."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from minignn import doctor
from minignn.doctor import Check


def test_this_environment_has_everything_the_book_needs():
    """The development environment (CI's too) is a complete setup: ``python -m minignn.doctor`` finds every
    required item and exits 0."""
    out = subprocess.run([sys.executable, "-m", "minignn.doctor"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("python", "torch", "rdkit", "QM7 data", "QM9 data", "PaiNN checkpoint (QM7)", "EDM checkpoint (QM9)"):
        assert f"ok        {name}" in out.stdout, out.stdout
    assert "Everything the book needs is here." in out.stdout and "checked in" in out.stdout


def test_a_missing_required_package_is_named_with_its_install_command():
    check = doctor.check_import("minignn_no_such_module", "no-such-package", required=True, purpose="chapter 9")
    assert (check.status, check.failed) == ("missing", True)
    assert "ModuleNotFoundError" in check.detail and "needed for chapter 9" in check.detail
    assert check.fix == "pip install no-such-package"


def test_a_missing_optional_package_does_not_fail_the_check(capsys):
    check = doctor.check_import("minignn_no_such_module", "no-such-package", required=False)
    assert (check.status, check.failed) == ("optional", False)
    code = doctor.main([], run=lambda: [Check("torch", "ok", "2"), check])
    out = capsys.readouterr().out
    assert code == 0
    assert "Everything the book needs is here." in out
    assert "Optional, not needed for the chapters: minignn_no_such_module (pip install no-such-package)" in out


def test_a_failed_check_sets_the_exit_status_and_says_how_to_fix_it(capsys):
    code = doctor.main([], run=lambda: [Check("torch", "ok", "2"), Check("QM7 data", "missing", "not found", "set X")])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 required item missing. To fix:\n  - QM7 data: set X" in out
    assert "MISSING   QM7 data" in out


def test_an_old_python_is_reported():
    assert doctor.check_python((3, 10)).status == "ok"
    old = doctor.check_python((99, 0))
    assert old.failed and "< 99.0" in old.detail and "Python 99.0 or newer" in old.fix


@pytest.fixture
def qm7_folders(tmp_path, monkeypatch):
    """An empty $MINIGNN_DATA and an empty cache: QM7 is found only where the test puts it."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir(), cache.mkdir()
    monkeypatch.setenv("MINIGNN_DATA", str(data))
    monkeypatch.setattr("minignn.datasets.qm7.cache_dir", lambda create=True: cache)
    monkeypatch.setattr("minignn.datasets.cache.cache_dir", lambda create=True: cache)
    return data


def test_qm7_missing_says_where_to_put_it_and_downloads_nothing(qm7_folders):
    check = doctor.check_qm7()
    assert check.failed
    assert "qm7.mat not found" in check.detail and "downloads are disabled" in check.detail
    assert "MINIGNN_DATA" in check.fix
    assert list(qm7_folders.iterdir()) == []


def test_qm7_found_in_minignn_data_is_named_without_a_machine_path(qm7_folders):
    scipy.io.savemat(qm7_folders / "qm7.mat", {"R": np.zeros((2, 23, 3)), "Z": np.zeros((2, 23)), "T": np.zeros((1, 2))})
    check = doctor.check_qm7()
    assert (check.status, check.detail) == ("ok", "qm7.mat in $MINIGNN_DATA")


@pytest.mark.parametrize("content, message", [
    ("text", "not a readable .mat file"),
    ({"X": np.zeros((2, 23, 23))}, "lacks ['R', 'T', 'Z'] (has ['X'])"),
])
def test_a_broken_qm7_file_is_reported(qm7_folders, content, message):
    path = qm7_folders / "qm7.mat"
    if isinstance(content, str):
        path.write_text(content)
    else:
        scipy.io.savemat(path, content)
    check = doctor.check_qm7()
    assert check.failed and message in check.detail, check
    assert check.fix == "delete it and download it again"


def test_qm9_without_qm9pack_is_reported(monkeypatch):
    def absent():
        raise FileNotFoundError("QM9 needs the PyPI package qm9pack")
    monkeypatch.setattr("minignn.datasets.qm9.qm9pack_data_dir", absent)
    check = doctor.check_qm9()
    assert check.failed and "qm9pack" in check.detail and check.fix == "pip install qm9pack"


def test_a_checkpoint_that_does_not_load_is_reported(monkeypatch):
    def broken(path=None):
        raise RuntimeError("PytorchStreamReader failed reading zip archive")
    monkeypatch.setattr(doctor, "_load_edm", broken)
    checks = {c.name: c for c in doctor.check_checkpoints()}
    assert checks["PaiNN checkpoint (QM7)"].status == "ok"
    edm = checks["EDM checkpoint (QM9)"]
    assert edm.failed and "RuntimeError: PytorchStreamReader" in edm.detail and "reinstall minignn" in edm.fix
