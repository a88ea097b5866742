"""Bad inputs of the models, their training and the diffusion modules (the table; run by tests/test_bad_input.py).

Every model checks its input once, at its entry: a feature width, dtype or device that does not match its weights
is named there, not by torch's ``mat1 and mat2 shapes cannot be multiplied``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from bad_input_support import bad, finite, good
from minignn import baselines as bl
from minignn import diffusion as df
from minignn import edm, equivariant as eq, mpnn, painn, toy, train, trainings
from minignn.datasets import QM9_TYPES, MoleculeSet
from minignn.graph import Graph
from minignn.neighbours import fully_connected
from minignn.plan import AggregationPlan
from minignn.radial import BesselBasis
from minignn.schedules import (CosineSchedule, DiscreteSchedule, LinearSchedule, NoiseSchedule, PolynomialSchedule,
                               check_time, get_schedule, time_grid)

L = torch.long
NAN = float("nan")
F64 = torch.float64
E3 = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
X3 = torch.randn(3, 4)
POS3 = torch.tensor([[0.0, 0, 0], [1.1, 0, 0], [1.1, 1.2, 0]])
POS4 = torch.tensor([[0.0, 0, 0], [0, 0, 0], [1.0, 0, 0], [1.0, 1.0, 0]], dtype=F64)  # atoms 0 and 1 coincide
K4 = fully_connected(4)
META = torch.device("meta")


def graphs(ys):
    """Rings of three typed nodes with targets ys."""
    return [Graph(edge_index=E3, x=torch.tensor([0, 1, 0]), y=torch.tensor(float(y), dtype=F64)) for y in ys]


def trainer(ys, val=None, **cfg):
    model = train.TypeMPNN(2, width=4, layers=1, hidden=4).double()
    config = train.TrainConfig(max_epochs=1, batch_size=2, progress=False, **cfg)
    return train.Trainer(model, graphs(ys), None if val is None else graphs(val), config)


def tiny_molecules():
    z = torch.tensor([6, 1, 1, 1, 1, 8, 1, 1])
    pos = torch.tensor([[0.0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                        [0.63, -0.63, -0.63], [0, 0, 0.12], [0, 0.76, -0.47], [0, -0.76, -0.47]])
    return MoleculeSet(z=z, pos=pos, ptr=torch.tensor([0, 5, 8]), y={}, units={}, index=torch.arange(2),
                       atom_types=QM9_TYPES)


def encoded():
    """``(pos, h, batch)`` of the two tiny molecules (methane, water), centred."""
    return edm.encode(tiny_molecules(), QM9_TYPES)


def edm_model(**kw):
    torch.manual_seed(0)
    return edm.EDM(edm.EDMConfig(width=8, layers=1, **kw), torch.tensor([3, 5]))


def edm_trainer_of_another_run(tmp):
    """Resume an EDMTrainer of batch 2 from the checkpoint of a run of batch 1."""
    first = edm.EDMTrainer(edm_model(), tiny_molecules(), 1, batch_size=1, generator=torch.Generator().manual_seed(0))
    first.run(checkpoint=tmp / "run.pt")
    edm.EDMTrainer(edm_model(), tiny_molecules(), 1, batch_size=2, generator=torch.Generator()).load(tmp / "run.pt")


def pretrained():
    model = painn.PaiNN(num_types=2, width=4, layers=1, num_basis=3)
    return painn.Pretrained(model, bl.CompositionBaseline(2).fit(torch.ones(2, 2), torch.ones(2)), bl.Standardizer(), {})


H5 = torch.eye(5)[[0, 1, 1, 2, 4]] * 0.25
P5 = torch.randn(5, 3)
SAMPLE = dict(shape=(4, 2), steps=3, generator=torch.Generator().manual_seed(0))

CASES = [
    # -- minignn.mpnn ------------------------------------------------------------------------------------------------
    bad(mpnn.check_inputs, "shape", "x", lambda: mpnn.check_inputs(torch.ones(3), E3)),
    bad(mpnn.check_inputs, "shape", "edge_attr", lambda: mpnn.check_inputs(X3, E3, torch.ones(3, 1))),
    bad(mpnn.check_features, "shape", "x", lambda: mpnn.check_features(X3, 5, torch.ones(2, 5))),
    bad(mpnn.check_features, "dtype", "x", lambda: mpnn.check_features(X3, 4, torch.ones(2, 4, dtype=F64)), "float64"),
    bad(mpnn.check_features, "device", "x", lambda: mpnn.check_features(X3.to(META), 4, torch.ones(2, 4)), "device"),
    bad(mpnn.check_edge_attr, "shape", "edge_attr", lambda: mpnn.check_edge_attr(torch.ones(4, 2), 0, "this layer"),
        "built without edge features"),
    bad(mpnn.check_edge_attr, "empty", "edge_attr", lambda: mpnn.check_edge_attr(None, 2, "this layer")),
    bad(mpnn.check_plan, "dtype", "plan", lambda: mpnn.check_plan("csr", E3, 3)),
    bad(mpnn.check_plan, "range", "plan", lambda: mpnn.check_plan(AggregationPlan.from_edge_index(E3[:, :2], 3), E3, 3),
        "another graph"),
    good(mpnn.gather, "valid", lambda: mpnn.gather((X3, POS3), torch.tensor([2, 0])),
         lambda r: torch.equal(r[0], X3[[2, 0]]) and torch.equal(r[1], POS3[[2, 0]])),
    bad(mpnn.mlp, "size", "mlp width 1", lambda: mpnn.mlp(4, 2.5, 1)),
    bad(mpnn.mlp, "empty", "mlp needs at least", lambda: mpnn.mlp(4)),
    bad(mpnn.MessagePassing, "option", "reduce", lambda: mpnn.MessagePassing("avg")),
    bad(mpnn.MessagePassing, "range", "edge_index", lambda: mpnn.MessagePassing()(X3, torch.tensor([[0], [3]]))),
    bad(mpnn.MPNNLayer, "shape", "edge_attr", lambda: mpnn.MPNNLayer(4)(X3, E3, torch.ones(4, 2)),
        "built without edge features"),  # One house: an argument is never ignored
    bad(mpnn.MPNNLayer, "shape", "x", lambda: mpnn.MPNNLayer(4)(torch.ones(3, 5), E3), "width 4"),
    bad(mpnn.MPNNLayer, "dtype", "x", lambda: mpnn.MPNNLayer(4)(X3.double(), E3)),
    bad(mpnn.MPNNLayer, "device", "x", lambda: mpnn.MPNNLayer(4)(X3.to(META), E3), "device"),
    bad(mpnn.MPNNLayer, "size", "dim", lambda: mpnn.MPNNLayer(0)),
    bad(mpnn.EdgeUpdateLayer, "size", "edge_dim", lambda: mpnn.EdgeUpdateLayer(4, 0), ">= 1"),
    bad(mpnn.EdgeUpdateLayer, "empty", "edge_attr", lambda: mpnn.EdgeUpdateLayer(4, 2)(X3, E3)),
    bad(mpnn.EdgeUpdateLayer, "dtype", "edge_attr", lambda: mpnn.EdgeUpdateLayer(4, 2)(X3, E3, torch.ones(4, 2, dtype=F64))),
    bad(mpnn.MeanGCNConv, "option", "normalization", lambda: mpnn.MeanGCNConv(4, 2, normalization="none")),
    bad(mpnn.MeanGCNConv, "shape", "edge_attr", lambda: mpnn.MeanGCNConv(4, 2)(X3, E3, torch.ones(4, 1))),
    bad(mpnn.MeanGCNConv, "shape", "x", lambda: mpnn.MeanGCNConv(4, 2)(torch.ones(3, 2), E3)),
    bad(mpnn.MPNN, "size", "layers", lambda: mpnn.MPNN(4, 1, layers=-1)),  # was a model without layers
    bad(mpnn.MPNN, "size", "width", lambda: mpnn.MPNN(4, 1, width=2.5)),  # was truncated
    bad(mpnn.MPNN, "dtype", "x", lambda: mpnn.MPNN(4, 1)(torch.ones(3, 4, dtype=L), E3), "int64"),
    bad(mpnn.MPNN, "shape", "x", lambda: mpnn.MPNN(4, 1)(torch.ones(3, 3), E3), "width 4"),  # was mat1 and mat2
    bad(mpnn.MPNN, "dtype", "edge_attr", lambda: mpnn.MPNN(4, 1, edge_dim=2)(X3, E3, torch.ones(4, 2, dtype=F64))),
    bad(mpnn.MPNN, "option", "readout", lambda: mpnn.MPNN(4, 1, readout="max")),
    bad(mpnn.MPNN, "range", "edge_dim", lambda: mpnn.MPNN(4, 1, edge_update=True)),
    bad(mpnn.MPNN, "range", "num_graphs", lambda: mpnn.MPNN(4, 1, readout="sum")(X3, E3, batch=torch.tensor([0, 1, 1]),
                                                                                   num_graphs=1), "pass a larger num_graphs"),
    # -- minignn.equivariant -----------------------------------------------------------------------------------------
    good(eq.angle_features, "coincident", lambda: eq.angle_features(POS4, torch.tensor([[0, 1, 2], [1, 2, 3]])),
         lambda r: finite(r) and r[0].tolist() == [0.0, 0.0]),  # was NaN
    bad(eq.angle_features, "shape", "faces", lambda: eq.angle_features(POS4, torch.tensor([[0, 1]]))),
    good(eq.torsion_features, "coincident", lambda: eq.torsion_features(POS4, torch.tensor([[0, 1, 2, 3]])),
         lambda r: r.tolist() == [[0.0, 0.0]]),  # was NaN
    bad(eq.torsion_features, "dtype", "chiral", lambda: eq.torsion_features(POS4, torch.tensor([[0, 1, 2, 3]]), "no")),
    good(eq.edge_invariants, "coincident",
         lambda: eq.edge_invariants(POS4, K4, BesselBasis(4).double(), angles=True, torsions=True), finite),  # was NaN
    bad(eq.edge_invariants, "option", "rbf", lambda: eq.edge_invariants(POS4, K4, "bessel")),
    bad(eq.InvariantLayer, "size", "edge_dim", lambda: eq.InvariantLayer(4, 0)),
    bad(eq.InvariantLayer, "dtype", "edge_attr", lambda: eq.InvariantLayer(4, 2)(X3, E3, torch.ones(4, 2, dtype=F64))),
    bad(eq.InvariantLayer, "shape", "x", lambda: eq.InvariantLayer(4, 2)(torch.ones(3, 2), E3, torch.ones(4, 2))),
    good(eq.InvariantMPNN, "coincident", lambda: eq.InvariantMPNN(3, angles=True, torsions=True).double()(
        torch.ones(4, 3, dtype=F64), POS4, K4), finite),  # was NaN
    bad(eq.InvariantMPNN, "shape", "x", lambda: eq.InvariantMPNN(3)(torch.ones(3, 2), POS3, E3), "width 3"),
    bad(eq.InvariantMPNN, "dtype", "x", lambda: eq.InvariantMPNN(3)(torch.ones(3, 3, dtype=F64), POS3.double(), E3)),
    bad(eq.InvariantMPNN, "size", "layers", lambda: eq.InvariantMPNN(3, layers=-1)),
    bad(eq.InvariantMPNN, "option", "basis", lambda: eq.InvariantMPNN(3, basis="fourier")),
    bad(eq.InvariantMPNN, "dtype", "angles", lambda: eq.InvariantMPNN(3, angles="yes")),
    bad(eq.EGNNLayer, "shape", "edge_attr", lambda: eq.EGNNLayer(4)(X3, POS3, E3, torch.ones(4, 1))),
    bad(eq.EGNNLayer, "range", "coords_range", lambda: eq.EGNNLayer(4, coords_range=-1.0)),
    bad(eq.EGNNLayer, "dtype", "h", lambda: eq.EGNNLayer(4)(X3.double(), POS3.double(), E3)),
    bad(eq.EGNN, "size", "layers", lambda: eq.EGNN(4, layers=-1)),
    bad(eq.EGNN, "shape", "x", lambda: eq.EGNN(4)(torch.ones(3, 5), POS3, E3), "width 4"),
    bad(eq.EGNN, "dtype", "pos", lambda: eq.EGNN(4)(X3, POS3.double(), E3), "share a dtype"),
    bad(eq.EGNN, "device", "x", lambda: eq.EGNN(4)(X3.to(META), POS3, E3), "device"),
    bad(eq.EGNNRegressor, "option", "readout", lambda: eq.EGNNRegressor(4, readout="max")),
    bad(eq.EGNNRegressor, "shape", "x", lambda: eq.EGNNRegressor(4)(torch.ones(3, 2), POS3, E3)),
    bad(eq.GradientForceModel, "option", "energy_model", lambda: eq.GradientForceModel("InvariantMPNN")),
    bad(eq.GradientForceModel, "shape", "x", lambda: eq.GradientForceModel(eq.InvariantMPNN(4))(torch.ones(3, 2), POS3, E3),
        "width 4"),
    bad(eq.GradientForceModel, "dtype", "pos", lambda: eq.GradientForceModel(eq.InvariantMPNN(4))(X3, POS3.long(), E3)),
    bad(eq.CoordinateMPNN, "shape", "x", lambda: eq.CoordinateMPNN(4)(torch.ones(3, 7), POS3, E3), "width 4"),
    bad(eq.CoordinateMPNN, "dtype", "pos", lambda: eq.CoordinateMPNN(4)(X3, POS3.double(), E3)),
    bad(eq.HarmonicDescriptor, "size", "privileged_m", lambda: eq.HarmonicDescriptor(privileged_m=1.5)),
    bad(eq.HarmonicDescriptor, "range", "privileged_m", lambda: eq.HarmonicDescriptor(l_max=2, privileged_m=3)),
    bad(eq.HarmonicDescriptor, "nan", "pos", lambda: eq.HarmonicDescriptor()(torch.full((3, 3), NAN), E3)),
    good(eq.HarmonicDescriptor, "coincident", lambda: eq.HarmonicDescriptor()(POS4, K4), finite),
    # -- minignn.painn -----------------------------------------------------------------------------------------------
    bad(painn.PaiNNConfig, "size", "layers", lambda: painn.PaiNNConfig(layers=-1)),
    bad(painn.PaiNNConfig, "size", "width", lambda: painn.PaiNNConfig(width=1), ">= 2"),
    bad(painn.PaiNNConfig, "range", "cutoff", lambda: painn.PaiNNConfig(cutoff=0.0)),
    bad(painn.PaiNNConfig, "option", "envelope", lambda: painn.PaiNNConfig(envelope="gaussian")),
    good(painn.PaiNNConfig, "valid", lambda: painn.PaiNNConfig(width=np.int64(8), cutoff=np.float32(4.0)),
         lambda r: type(r.width) is int and type(r.cutoff) is float),  # plain numbers: stored in checkpoints
    bad(painn.PaiNNMessage, "shape", "rbf", lambda: painn.PaiNNMessage(4, 3)(
        X3, torch.zeros(3, 3, 4), E3, torch.ones(4, 3), torch.ones(4, 2))),
    bad(painn.PaiNNMessage, "dtype", "s", lambda: painn.PaiNNMessage(4, 3)(
        X3.double(), torch.zeros(3, 3, 4, dtype=F64), E3, torch.ones(4, 3, dtype=F64), torch.ones(4, 3, dtype=F64))),
    bad(painn.PaiNNUpdate, "shape", "v", lambda: painn.PaiNNUpdate(4)(X3, torch.zeros(3, 4))),
    bad(painn.PaiNNUpdate, "dtype", "s", lambda: painn.PaiNNUpdate(4)(X3.double(), torch.zeros(3, 3, 4, dtype=F64))),
    bad(painn.PaiNN, "coincident", "pos", lambda: painn.PaiNN(num_types=2, width=4, layers=1).double()(
        torch.tensor([0, 1, 0, 1]), POS4, K4), "same position"),
    bad(painn.PaiNN, "dtype", "x", lambda: painn.PaiNN(num_types=2, width=4, layers=1)(torch.zeros(3), POS3, E3)),
    bad(painn.PaiNN, "range", "atom types", lambda: painn.PaiNN(num_types=2, width=4, layers=1)(
        torch.tensor([0, 1, 2]), POS3, E3)),
    bad(painn.PaiNN, "dtype", "pos", lambda: painn.PaiNN(num_types=2, width=4, layers=1)(
        torch.tensor([0, 1, 0]), POS3.double(), E3), "float64"),  # was a dtype error inside a Linear
    bad(painn.PaiNN, "device", "pos", lambda: painn.PaiNN(num_types=2, width=4, layers=1)(
        torch.tensor([0, 1, 0]), POS3.to(META), E3), "meta"),
    bad(painn.PaiNN, "option", "config", lambda: painn.PaiNN({"width": 4})),
    bad(painn.Pretrained, "empty", "split", lambda: pretrained().split),
    bad(painn.Pretrained, "size", "batch_size", lambda: pretrained().predict(graphs([1.0]), batch_size=0)),
    bad(painn.save_pretrained, "dtype", "model",
        lambda tmp: painn.save_pretrained(tmp / "m.pt", mpnn.MPNN(2, 1), bl.CompositionBaseline(2), bl.Standardizer())),
    bad(painn.save_pretrained, "dtype", "info", lambda tmp: painn.save_pretrained(
        tmp / "m.pt", painn.PaiNN(num_types=2, width=4, layers=1), bl.CompositionBaseline(2), bl.Standardizer(), "qm7")),
    good(painn.qm7_checkpoint_path, "file", lambda: painn.qm7_checkpoint_path(), lambda r: r.name == "qm7_painn.pt"),
    good(painn.qm7_checkpoint_path, "file", lambda: painn.qm7_checkpoint_path("nequip"), lambda r: r.name == "qm7_nequip.pt"),
    bad(painn.qm7_checkpoint_path, "dtype", "model", lambda: painn.qm7_checkpoint_path(None)),
    bad(painn.load_pretrained, "range", "model", lambda: painn.load_pretrained(model="NequIP")),
    # -- minignn.train -----------------------------------------------------------------------------------------------
    bad(train.GraphLoader, "size", "batch_size", lambda: train.GraphLoader(graphs([1.0]), 0)),
    bad(train.GraphLoader, "empty", "at least one graph", lambda: train.GraphLoader([], 2)),
    bad(train.GraphLoader, "range", "rank", lambda: train.GraphLoader(graphs([1.0]), 2, rank=2, world_size=2)),
    good(train.GraphLoader, "valid", lambda: len(train.GraphLoader(graphs([1.0, 2.0, 3.0]), np.int64(2))),
         lambda r: r == 2),
    bad(train.lr_factor, "size", "total_steps", lambda: train.lr_factor(0, total_steps=0), ">= 1"),
    bad(train.lr_factor, "size", "step", lambda: train.lr_factor(-1, total_steps=10)),
    bad(train.lr_factor, "range", "min_ratio", lambda: train.lr_factor(0, total_steps=10, min_ratio=1.5)),
    bad(train.lr_factor, "nan", "budget_s", lambda: train.lr_factor(0, elapsed_s=1.0, budget_s=NAN)),
    bad(train.TrainConfig, "range", "clip_grad_norm", lambda: train.TrainConfig(clip_grad_norm=-1)),  # flipped gradients
    bad(train.TrainConfig, "range", "patience", lambda: train.TrainConfig(patience=-1)),  # stopped after one epoch
    bad(train.TrainConfig, "range", "patience", lambda: train.TrainConfig(patience=0), "None: never stop early"),
    bad(train.TrainConfig, "range", "lr", lambda: train.TrainConfig(lr=0.0)),
    bad(train.TrainConfig, "nan", "lr", lambda: train.TrainConfig(lr=NAN)),
    bad(train.TrainConfig, "range", "weight_decay", lambda: train.TrainConfig(weight_decay=-0.1)),
    bad(train.TrainConfig, "nan", "warmup_epochs", lambda: train.TrainConfig(warmup_epochs=NAN)),
    bad(train.TrainConfig, "range", "min_lr_ratio", lambda: train.TrainConfig(min_lr_ratio=2.0)),
    bad(train.TrainConfig, "range", "max_time_s", lambda: train.TrainConfig(max_time_s=0)),
    bad(train.TrainConfig, "size", "num_types", lambda: train.TrainConfig(num_types=0)),
    bad(train.TrainConfig, "size", "max_epochs", lambda: train.TrainConfig(max_epochs=2.5)),
    bad(train.TrainConfig, "option", "device", lambda: train.TrainConfig(device="gpu")),
    bad(train.TrainConfig, "dtype", "progress", lambda: train.TrainConfig(progress="no")),
    bad(train.TrainConfig, "option", "loss", lambda: train.TrainConfig(loss="huber")),
    good(train.TrainConfig, "valid", lambda: train.TrainConfig(batch_size=np.int64(4), checkpoint_path=Path("c.pt")),
         lambda r: type(r.batch_size) is int and r.checkpoint_path == "c.pt"),  # a Path in a checkpoint: unloadable
    good(train.History, "empty", lambda: len(train.History()), lambda r: r == 0),
    bad(train.Trainer, "nan", "y", lambda: trainer([1.0, NAN, 2.0]), "finite target"),  # every val MAE was NaN
    bad(train.Trainer, "nan", "val_data[0]", lambda: trainer([1.0, 2.0], val=[NAN]), "finite target"),
    bad(train.Trainer, "empty", "train_data", lambda: train.Trainer(train.TypeMPNN(2), [])),
    bad(train.Trainer, "dtype", "model", lambda: train.Trainer(lambda x: x, graphs([1.0]))),
    bad(train.Trainer, "dtype", "config", lambda: train.Trainer(train.TypeMPNN(2), graphs([1.0]), config={"lr": 1e-3})),
    bad(train.Trainer, "size", "epochs", lambda: trainer([1.0, 2.0]).fit(epochs=0)),
    bad(train.predict, "nan", "y", lambda: train.predict(train.TypeMPNN(2).double(), graphs([NAN]), targets=True)),
    bad(train.evaluate, "empty", "data", lambda: train.evaluate(train.TypeMPNN(2), [])),
    bad(train.init_distributed, "device", "device", lambda: train.init_distributed("cuda") if not torch.cuda.is_available()
        else train.init_distributed("tpu")),
    bad(train.synthetic_graphs, "size", "num_graphs", lambda: train.synthetic_graphs(-1)),
    bad(train.synthetic_graphs, "size", "num_types", lambda: train.synthetic_graphs(2, num_types=0)),
    bad(train.TypeMPNN, "dtype", "x", lambda: train.TypeMPNN(2)(torch.zeros(3), E3)),
    bad(train.TypeMPNN, "range", "node types", lambda: train.TypeMPNN(2)(torch.tensor([0, 1, 2]), E3)),
    bad(trainings.time_cosine, "range", "budget_s", lambda: trainings.time_cosine(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), budget_s=0.0, warmup_steps=1)),
    bad(trainings.fit_qm7, "dtype", "trainer", lambda: trainings.fit_qm7(train.TypeMPNN(2))),
    bad(trainings.fit_qm7, "range", "budget_s", lambda: trainings.fit_qm7(trainer([1.0, 2.0]), budget_s=-1.0)),
    bad(trainings.qm9_subset, "option", "--subset", lambda: trainings.qm9_subset(tiny_molecules(), "heavy10")),
    good(trainings.qm9_subset, "valid", lambda: trainings.qm9_subset(tiny_molecules(), "heavy1")[0],
         lambda r: len(r) == 2),
    bad(trainings.qm7_main, "size", "--limit", lambda: trainings.qm7_main(["--limit", "0", "--epochs", "1"])),
    bad(trainings.qm7_main, "file", "--resume", lambda: trainings.qm7_main(["--epochs", "1", "--resume"])),
    bad(trainings.qm9_edm_main, "size", "--batch-size", lambda: trainings.qm9_edm_main(["--batch-size", "-2"])),
    bad(trainings.qm9_edm_main, "nan", "--budget-min", lambda: trainings.qm9_edm_main(["--budget-min", "nan"])),
    bad(train.main, "size", "max_epochs", lambda: train.main(["--epochs", "0", "--num-graphs", "8", "--no-progress"])),
    # -- minignn.baselines -------------------------------------------------------------------------------------------
    bad(bl.mean_baseline, "size", "num_predictions", lambda: bl.mean_baseline(torch.ones(2), 2.5)),
    bad(bl.mean_baseline, "nan", "y_train", lambda: bl.mean_baseline(torch.tensor([1.0, NAN]), 2)),
    bad(bl.mean_baseline, "empty", "training target", lambda: bl.mean_baseline(torch.zeros(0), 2)),
    bad(bl.composition, "size", "num_types", lambda: bl.composition(graphs([1.0])[0], 0)),
    bad(bl.composition, "dtype", "g", lambda: bl.composition(X3, 2)),
    bad(bl.composition, "range", "node types", lambda: bl.composition(graphs([1.0])[0], 1)),
    bad(bl.CompositionBaseline, "nan", "y", lambda: bl.CompositionBaseline(2).fit(torch.ones(3, 2), [1.0, NAN, 2.0])),
    bad(bl.CompositionBaseline, "size", "num_types", lambda: bl.CompositionBaseline(2.5)),
    bad(bl.CompositionBaseline, "range", "counts", lambda: bl.CompositionBaseline(2).fit(-torch.ones(3, 2), torch.ones(3))),
    bad(bl.CompositionBaseline, "empty", "before fit", lambda: bl.CompositionBaseline(2).predict(torch.ones(1, 2))),
    bad(bl.composition_baseline, "shape", "counts_train", lambda: bl.composition_baseline(torch.ones(3), torch.ones(3),
                                                                                         torch.ones(3))),
    bad(bl.Standardizer, "range", "std", lambda: bl.Standardizer(std=0.0)),  # was z = inf
    bad(bl.Standardizer, "nan", "mean", lambda: bl.Standardizer(mean=NAN)),
    bad(bl.Standardizer, "nan", "residuals", lambda: bl.Standardizer().fit(torch.tensor([1.0, NAN]))),
    good(bl.Standardizer, "range", lambda: bl.Standardizer().fit(torch.full((4,), 3.0)).transform(torch.tensor(3.0)),
         lambda r: float(r) == 0.0),  # zero spread: std 1, finite
    bad(bl.coulomb_matrix, "coincident", "pos", lambda: bl.coulomb_matrix(torch.tensor([6, 1]), torch.zeros(2, 3)),
        "same position"),
    bad(bl.coulomb_matrix, "dtype", "z", lambda: bl.coulomb_matrix(torch.tensor([6.0, 1.0]), POS3[:2])),
    bad(bl.sorted_coulomb_features, "size", "size", lambda: bl.sorted_coulomb_features(tiny_molecules(), size=0)),
    bad(bl.sorted_coulomb_features, "empty", "at least one molecule", lambda: bl.sorted_coulomb_features([])),
    bad(bl.laplacian_kernel, "range", "sigma", lambda: bl.laplacian_kernel(torch.ones(2, 3), torch.ones(2, 3), 0.0)),
    bad(bl.laplacian_kernel, "shape", "a and b", lambda: bl.laplacian_kernel(torch.ones(3), torch.ones(2, 3), 1.0)),
    bad(bl.KernelRidge, "range", "lam", lambda: bl.KernelRidge(1.0, -1.0)),
    bad(bl.KernelRidge, "empty", "before fit", lambda: bl.KernelRidge(1.0, 0.1).predict(torch.ones(1, 2))),
    bad(bl.fit_kernel_ridge, "nan", "features", lambda: bl.fit_kernel_ridge(
        torch.tensor([[NAN], [1.0]]), torch.ones(2), torch.ones(1, 1), torch.ones(1))),
    bad(bl.fit_kernel_ridge, "empty", "lams", lambda: bl.fit_kernel_ridge(
        torch.ones(2, 1), torch.ones(2), torch.ones(1, 1), torch.ones(1), sigmas=(1.0,), lams=())),
    bad(bl.fit_kernel_ridge, "shape", "x_val", lambda: bl.fit_kernel_ridge(
        torch.ones(2, 1), torch.ones(2), torch.ones(1, 2), torch.ones(1), sigmas=(1.0,))),
    # -- minignn.toy -------------------------------------------------------------------------------------------------
    bad(toy.two_moons, "size", "n >= 1", lambda: toy.two_moons(2.5)),
    bad(toy.two_moons, "nan", "noise", lambda: toy.two_moons(4, noise=NAN)),
    good(toy.two_moons, "valid", lambda: toy.two_moons(np.int64(5)), lambda r: r.shape == (5, 2) and finite(r)),
    bad(toy.ToyDenoiser, "range", "t", lambda: toy.ToyDenoiser()(torch.zeros(3, 2), torch.full((3,), 1.5))),  # was run
    bad(toy.ToyDenoiser, "shape", "t", lambda: toy.ToyDenoiser()(torch.zeros(3, 2), torch.zeros(4))),
    bad(toy.ToyDenoiser, "dtype", "x", lambda: toy.ToyDenoiser()(torch.zeros(3, 2, dtype=F64), torch.zeros(3))),
    bad(toy.ToyDenoiser, "size", "dim", lambda: toy.ToyDenoiser(dim=0)),
    bad(toy.train_denoiser, "empty", "data", lambda: toy.train_denoiser(toy.ToyDenoiser(), torch.zeros(0, 2), steps=1)),
    bad(toy.train_denoiser, "size", "batch_size", lambda: toy.train_denoiser(toy.ToyDenoiser(), torch.zeros(4, 2),
                                                                             steps=1, batch_size=0)),
    bad(toy.mean_nearest_distance, "shape", "width", lambda: toy.mean_nearest_distance(torch.ones(2, 2), torch.ones(3, 3))),
    bad(toy.mean_nearest_distance, "empty", "samples", lambda: toy.mean_nearest_distance(torch.ones(0, 2), torch.ones(3, 2))),
    # -- minignn.schedules and minignn.diffusion ---------------------------------------------------------------------
    bad(NoiseSchedule, "size", "num_steps", lambda: LinearSchedule().discretise(2.5)),
    bad(NoiseSchedule, "option", "rule", lambda: CosineSchedule().discretise(4, rule="ddim")),
    good(DiscreteSchedule, "valid", lambda: LinearSchedule().discretise(np.int64(4)),
         lambda r: isinstance(r, DiscreteSchedule) and r.num_steps == 4 and finite(tuple(r))),
    bad(time_grid, "range", "power", lambda: time_grid(10, 0.0)),
    bad(time_grid, "nan", "power", lambda: time_grid(10, float("nan"))),
    bad(time_grid, "dtype", "power", lambda: time_grid(10, "2")),
    bad(time_grid, "size", "num_steps", lambda: time_grid(0)),
    good(time_grid, "valid", lambda: time_grid(np.int64(4), np.float32(2.0)),
         lambda r: r.dtype == torch.float64 and r.tolist() == [0.0, 0.0625, 0.25, 0.5625, 1.0]),
    bad(LinearSchedule, "nan", "beta_max", lambda: LinearSchedule(beta_max=float("inf"))),
    bad(LinearSchedule, "range", "beta_min", lambda: LinearSchedule(beta_min=2.0, beta_max=1.0)),
    bad(LinearSchedule, "nan", "t", lambda: LinearSchedule().beta(NAN)),
    bad(CosineSchedule, "range", "s >= 0", lambda: CosineSchedule(s=-0.1)),
    bad(CosineSchedule, "dtype", "max_beta", lambda: CosineSchedule(max_beta="100")),
    bad(PolynomialSchedule, "range", "power", lambda: PolynomialSchedule(power=0.5)),
    bad(PolynomialSchedule, "range", "precision", lambda: PolynomialSchedule(precision=0.0)),
    bad(PolynomialSchedule, "range", "precision", lambda: PolynomialSchedule(precision=0.5)),
    bad(PolynomialSchedule, "dtype", "precision", lambda: PolynomialSchedule(precision="1e-5")),
    bad(PolynomialSchedule, "nan", "t", lambda: PolynomialSchedule().beta(NAN)),
    good(PolynomialSchedule, "valid", lambda: PolynomialSchedule(np.int64(3), np.float32(1e-4)).alpha_bar(1.0),
         lambda r: abs(float(r) - 1e-4 / (1 - 1e-4)) < 1e-9),
    bad(get_schedule, "option", "noise schedule", lambda: get_schedule("sigmoid")),
    bad(check_time, "range", "t", lambda: check_time(1.5)),
    bad(check_time, "nan", "t", lambda: check_time(torch.tensor([0.5, NAN]))),
    bad(check_time, "dtype", "t", lambda: check_time("0.5")),
    good(check_time, "valid", lambda: check_time(np.float32(0.5)), lambda r: float(r) == 0.5),
    bad(df.q_sample, "shape", "noise", lambda: df.q_sample(torch.zeros(3, 2), 0.5, noise=torch.zeros(3))),
    bad(df.q_sample, "dtype", "x0", lambda: df.q_sample(torch.zeros(3, 2, dtype=L), 0.5)),
    bad(df.denoising_loss, "shape", "the model must return",
        lambda: df.denoising_loss(lambda x, t: x[:, :1], torch.zeros(4, 2))),  # was broadcast
    bad(df.denoising_loss, "option", "reduction", lambda: df.denoising_loss(torch.tanh, torch.zeros(4, 2), reduction="sum")),
    bad(df.score_from_eps, "range", "t", lambda: df.score_from_eps(torch.zeros(2, 2), 1.5)),
    bad(df.eps_from_score, "dtype", "score", lambda: df.eps_from_score([0.0, 1.0], 0.5)),
    bad(df.gaussian_score, "range", "cov", lambda: df.gaussian_score(torch.zeros(2), torch.tensor([[1.0, 2.0], [0.0, 1.0]])),
        "symmetric"),
    bad(df.gaussian_score, "range", "cov", lambda: df.gaussian_score(torch.zeros(2), -torch.eye(2)), "semi-definite"),
    bad(df.empirical_score, "dtype", "data", lambda: df.empirical_score(torch.ones(3, 2, dtype=L))),
    bad(df.reverse_sde_step, "range", "dt", lambda: df.reverse_sde_step(
        torch.zeros(2, 2), 0.5, -0.1, torch.zeros(2, 2), "linear", torch.zeros(2, 2))),  # was complex numbers
    bad(df.reverse_sde_step, "range", "dt", lambda: df.reverse_sde_step(
        torch.zeros(2, 2), 0.1, 0.3, torch.zeros(2, 2), "linear", torch.zeros(2, 2)), "<= t"),
    bad(df.reverse_sde_step, "shape", "score", lambda: df.reverse_sde_step(
        torch.zeros(2, 2), 0.5, 0.1, torch.zeros(2, 1), "linear", torch.zeros(2, 2))),
    bad(df.reverse_sde_step, "nan", "t", lambda: df.reverse_sde_step(
        torch.zeros(2, 2), NAN, 0.1, torch.zeros(2, 2), "linear", torch.zeros(2, 2))),
    bad(df.ancestral_sample, "shape", "the model must return",
        lambda: df.ancestral_sample(lambda x, t: x.sum(1, keepdim=True), **SAMPLE)),  # was broadcast
    bad(df.ancestral_sample, "dtype", "x_init", lambda: df.ancestral_sample(torch.tanh, x_init=torch.zeros(2, 2, dtype=L))),
    bad(df.ancestral_sample, "shape", "shape", lambda: df.ancestral_sample(torch.tanh, shape="4x2")),
    bad(df.euler_maruyama_sample, "shape", "the model must return",
        lambda: df.euler_maruyama_sample(lambda x, t: x[0], **SAMPLE)),  # was broadcast
    bad(df.euler_maruyama_sample, "size", "steps", lambda: df.euler_maruyama_sample(torch.tanh, shape=(2, 2), steps=2.5)),
    bad(df.probability_flow_sample, "option", "model", lambda: df.probability_flow_sample("eps", shape=(2, 2))),
    good(df.probability_flow_sample, "valid", lambda: df.probability_flow_sample(
        lambda x, t: torch.zeros_like(x), x_init=torch.ones(3, 2), steps=np.int64(2)), finite),
    # -- minignn.edm -------------------------------------------------------------------------------------------------
    bad(edm.EDMConfig, "size", "layers", lambda: edm.EDM(edm.EDMConfig(layers=-1))),
    bad(edm.EDMConfig, "size", "width", lambda: edm.EDM(edm.EDMConfig(width=2.5))),
    bad(edm.EDMConfig, "range", "type_scale", lambda: edm.EDM(edm.EDMConfig(type_scale=0.0))),
    bad(edm.EDMConfig, "range", "elements", lambda: edm.EDM(edm.EDMConfig(elements=(1, 6, 999)))),
    bad(edm.EDMConfig, "option", "parametrization", lambda: edm.EDM(edm.EDMConfig(parametrization="v"))),
    bad(edm.EDM, "dtype", "pos", lambda: edm_model()(H5.double(), P5.double(), t=0.5), "float64"),
    bad(edm.EDM, "device", "pos", lambda: edm_model()(H5, P5.to(META), t=0.5), "meta"),
    bad(edm.EDM, "range", "t", lambda: edm_model()(H5, P5, t=-0.1)),
    bad(edm.EDM, "range", "edge_index", lambda: edm_model()(H5, P5, torch.tensor([[0], [5]]), t=0.5)),  # checked first
    bad(edm.EDM, "dtype", "config", lambda: edm.EDM({"width": 8})),
    bad(edm.AtomCountDistribution, "size", "num", lambda: edm.AtomCountDistribution(torch.tensor([3])).sample(2.5)),
    bad(edm.AtomCountDistribution, "dtype", "histogram", lambda: edm.AtomCountDistribution.from_histogram([0.0, 1.5])),
    bad(edm.remove_com, "range", "num_graphs", lambda: edm.remove_com(torch.zeros(3, 4), torch.tensor([0, 0, 1]), 1)),
    bad(edm.remove_com, "shape", "x", lambda: edm.remove_com(torch.zeros(3, 2))),
    bad(edm.encode, "dtype", "molecules", lambda: edm.encode([(torch.tensor([1]), torch.zeros(1, 3))], QM9_TYPES)),
    bad(edm.encode, "nan", "type_scale", lambda: edm.encode(tiny_molecules(), QM9_TYPES, type_scale=NAN)),
    bad(edm.edm_loss, "shape", "h", lambda: edm.edm_loss(edm_model(), encoded()[0], encoded()[1][:, :4], encoded()[2])),
    bad(edm.edm_loss, "range", "t", lambda: edm.edm_loss(edm_model(), *encoded(), t=torch.tensor([0.5, 1.5]))),
    bad(edm.edm_loss, "range", "bonds", lambda: edm.edm_loss(edm_model(bond_head=True), *encoded(),
                                                             bonds=torch.full((26,), 7))),  # 5 x 4 + 3 x 2 edges
    bad(edm.sample_molecules, "dtype", "num_atoms", lambda: edm.sample_molecules(edm_model(), 1,
                                                                                 num_atoms=torch.tensor([2.5]))),
    good(edm.sample_molecules, "valid", lambda: edm.sample_molecules(edm_model(), np.int64(1), steps=2,
                                                                     num_atoms=torch.tensor([3]),
                                                                     generator=torch.Generator().manual_seed(0)),
         lambda r: len(r) == 1 and finite(r.pos)),
    bad(edm.train_edm, "range", "clip_grad_norm", lambda: edm.train_edm(edm_model(), tiny_molecules(), steps=1,
                                                                        clip_grad_norm=-1.0)),
    bad(edm.train_edm, "range", "ema_decay", lambda: edm.train_edm(edm_model(), tiny_molecules(), steps=1, ema_decay=2.0)),
    bad(edm.train_edm, "size", "batch_size", lambda: edm.train_edm(edm_model(), tiny_molecules(), steps=1, batch_size=0)),
    good(edm.TrainLog, "valid", lambda: edm.train_edm(edm_model(), tiny_molecules(), steps=np.int64(1), batch_size=2,
                                                      ema_decay=None, warmup_steps=0),
         lambda r: isinstance(r, edm.TrainLog) and len(r.losses) == 1 and math.isfinite(r.losses[0])),
    bad(edm.EDMTrainer, "size", "batch_size", lambda: edm.EDMTrainer(edm_model(), tiny_molecules(), 1, batch_size=0)),
    bad(edm.EDMTrainer, "option", "time_sampling", lambda: edm.EDMTrainer(edm_model(), tiny_molecules(), 1,
                                                                          time_sampling="beta")),
    bad(edm.EDMTrainer, "dtype", "generator", lambda: edm.EDMTrainer(edm_model(), tiny_molecules(), 1, generator=0)),
    bad(edm.EDMTrainer, "file", "batch_size expected 2", lambda tmp: edm_trainer_of_another_run(tmp)),
    good(edm.EDMTrainer, "valid", lambda: edm.EDMTrainer(edm_model(), tiny_molecules(), np.int64(2), batch_size=2,
                                                         generator=torch.Generator().manual_seed(0)).run(),
         lambda r: len(r.losses) == 2 and all(math.isfinite(v) for v in r.losses)),
    bad(edm.save_edm, "dtype", "model", lambda tmp: edm.save_edm(tmp / "e.pt", mpnn.MPNN(2, 1))),
    good(edm.qm9_checkpoint_path, "file", edm.qm9_checkpoint_path, lambda r: r.name == "qm9_edm.pt"),
    bad(edm.draw_times, "size", "num", lambda: edm.draw_times(-1)),
    bad(edm.draw_times, "option", "time_sampling", lambda: edm.draw_times(3, "beta")),
    bad(edm.bond_classes, "dtype", "molecules", lambda: edm.bond_classes([torch.tensor([6])])),
]

