"""QM7 folds in both layouts of qm7.mat: the canonical file with the published folds P, and the offline copy
without them.  Whichever file a reader has, the shipped PaiNN is scored on its own test molecules, never on
molecules it trained on, and the chapter runs.

The P layout is built here from the offline copy: the same X, T, Z, R plus a seeded permutation of the
7165 molecules reshaped to 5 x 1433 (the shape of the published P).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from minignn.datasets import check_split, find_qm7, indices_sha256, load_qm7, read_qm7, stratified_folds
from minignn.graph import batch
from minignn.painn import load_pretrained

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plain_path():
    """The offline copy ($MINIGNN_DATA, as in CI): no P."""
    if not os.environ.get("MINIGNN_DATA"):
        pytest.skip("needs the QM7 copy: set MINIGNN_DATA (CI sets it to ../shared/data)")
    path = find_qm7(download=False)
    import scipy.io

    assert all(name != "P" for name, *_ in scipy.io.whosmat(path))  # the offline copy has no published folds
    return path


@pytest.fixture(scope="module")
def p_path(plain_path, tmp_path_factory):
    """The canonical layout: the same arrays plus P [5, 1433], a seeded permutation (0-based, as the original)."""
    import scipy.io

    d = scipy.io.loadmat(plain_path)
    out = tmp_path_factory.mktemp("qm7_with_p") / "qm7.mat"
    P = np.random.default_rng(2012).permutation(7165).reshape(5, 1433)
    scipy.io.savemat(out, {k: d[k] for k in "XTZR"} | {"P": P})
    return out


@pytest.fixture(scope="module")
def layouts(plain_path, p_path):
    return {"without P": plain_path, "with P": p_path}


def test_folds_argument_chooses_the_rule(plain_path, p_path):
    import scipy.io

    P = scipy.io.loadmat(p_path)["P"]
    auto_p = read_qm7(p_path)
    assert auto_p.folds_rule == "file" and auto_p.folds_source == "file P" and auto_p.has_file_folds
    for k in range(5):  # fold k holds exactly the molecules of row k of P
        assert torch.equal((auto_p.folds == k).nonzero()[:, 0], torch.from_numpy(np.sort(P[k]).astype(np.int64)))
    assert torch.equal(read_qm7(p_path, folds="file").folds, auto_p.folds)

    strat_p, strat_plain, auto_plain = read_qm7(p_path, folds="stratified"), read_qm7(plain_path, folds="stratified"), \
        read_qm7(plain_path)
    assert strat_p.folds_rule == strat_plain.folds_rule == auto_plain.folds_rule == "stratified"
    assert strat_p.has_file_folds and not strat_plain.has_file_folds
    # the stratified folds come from the energies alone: the same on both files, as the oracle rule gives them
    oracle = stratified_folds(strat_plain.energies, 5, 0)
    for data in (strat_p, strat_plain, auto_plain):
        assert torch.equal(data.folds, oracle) and data.folds_source == "stratified by energy, seed 0"
    assert not torch.equal(strat_p.folds, auto_p.folds)


def test_file_folds_of_a_file_without_p_is_a_clear_error(plain_path, monkeypatch):
    with pytest.raises(ValueError, match=r"folds='file' asks for the published folds P, but .*qm7.mat has no P"):
        read_qm7(plain_path, folds="file")
    monkeypatch.setenv("MINIGNN_DATA", str(plain_path.parent))
    with pytest.raises(ValueError, match=r"has no P .*use folds='stratified'"):
        load_qm7(folds="file")
    for bad in ("P", "published", None):
        with pytest.raises(ValueError, match=r"folds must be one of \('auto', 'file', 'stratified'\), got"):
            load_qm7(folds=bad)


def test_the_checkpoint_records_its_split():
    record = load_pretrained().info["split"]
    assert record["folds"] == "stratified" and record["seed"] == 0 and record["fold"] == 0
    assert record["val_fraction"] == 0.1
    train, val, test = load_pretrained().split
    assert (len(train), len(val), len(test)) == (5159, 573, 1433)
    assert indices_sha256(test) == record["test_sha256"]
    every = torch.cat([train, val, test]).sort().values
    assert torch.equal(every, torch.arange(7165))  # disjoint and complete


@pytest.mark.parametrize("layout", ["without P", "with P"])
def test_the_shipped_model_is_scored_on_its_own_test_molecules(layouts, layout):
    """The chapter's protocol, in both layouts: load the folds the checkpoint names, check the split, score."""
    pre = load_pretrained()
    data = read_qm7(layouts[layout], folds=pre.info["split"]["folds"])
    train, val, test = pre.split_of(data)
    assert not set(test.tolist()) & (set(train.tolist()) | set(val.tolist()))
    assert torch.equal(test, data.split(0)[2])
    graphs = data.graphs(cutoff=pre.info["cutoff"], indices=test)
    mae = float((pre.predict(graphs) - data.energies[test]).abs().mean())
    assert mae == pytest.approx(pre.info["test_mae"], abs=1e-3)


def test_the_published_folds_would_score_on_training_molecules(p_path):
    """The defect this guards against: fold 0 of P overlaps the checkpoint's training set, and the check says so."""
    pre = load_pretrained()
    published = read_qm7(p_path, folds="file")
    train, val, _ = pre.split
    published_test = published.split(0)[2]
    overlap = np.intersect1d(published_test.numpy(), torch.cat([train, val]).numpy()).size
    assert overlap > 1000  # about 4/5 of the 1433 molecules: a seeded permutation, not the stratified rule
    with pytest.raises(ValueError, match=r"the split uses folds='stratified' \(seed 0\) but the data set was loaded with "
                                         r"folds='file'.*load_qm7\(folds='stratified'\)"):
        pre.split_of(published)


def test_check_split_rejects_a_corrupt_or_overlapping_record():
    record = dict(load_pretrained().info["split"])
    tampered = dict(record, test=record["test"].clone())
    tampered["test"][0] = int(record["train"][0])
    with pytest.raises(ValueError, match=r"the stored test indices do not match their sha256"):
        check_split(tampered)
    tampered["test_sha256"] = indices_sha256(tampered["test"])  # consistent hash, but now overlapping
    with pytest.raises(ValueError, match=r"the train and test sets share 1 molecules"):
        check_split(tampered)
    with pytest.raises(ValueError, match=r"the split record lacks \['test', 'test_sha256'\]"):
        check_split({k: v for k, v in record.items() if not k.startswith("test")})


def test_the_chapter_runs_against_the_file_with_p(p_path, monkeypatch):
    """book/qm7.ipynb, executed as a reader with the canonical file (P present) would run it."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("MINIGNN_DATA", str(p_path.parent))
    path = ROOT / "book" / "qm7.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "folds: stratified by energy, seed 0" in text and "published folds" in text
