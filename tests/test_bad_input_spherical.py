"""Bad input for the spherical-network modules (issue 17): irreps, clebsch_gordan, tensor_product, gate, tfn, mace,
body_order.  The same table format as tests/test_bad_input_models.py (``bad_input_support``); the meta-test of
tests/test_bad_input.py sees these cases once ``CASES`` of this file is added to its ``ALL_CASES``.  Until then the
coverage test below checks every public name of these modules here.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from bad_input_support import bad, finite, good, run_case
from minignn import body_order, clebsch_gordan as cg, gate, irreps as ir, mace, tensor_product as tp, tfn

F64 = torch.float64
L = torch.long
E3 = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
POS3 = torch.tensor([[0.0, 0, 0], [1.1, 0, 0], [1.1, 1.2, 0]], dtype=F64)
TYPES3 = torch.tensor([0, 1, 1])
EYE = torch.eye(3, dtype=F64)
MODULES = ("minignn.irreps", "minignn.clebsch_gordan", "minignn.tensor_product", "minignn.gate", "minignn.tfn",
           "minignn.mace", "minignn.body_order")


def nequip():
    torch.manual_seed(0)
    return tfn.NequIP(num_types=2, width=4, l_max=1, layers=1).double()


def mace_model():
    torch.manual_seed(0)
    return mace.MACE(num_types=2, width=4, l_max=1, correlation=2, layers=1).double()


CASES = [
    # -- minignn.irreps ----------------------------------------------------------------------------------------------
    bad(ir.Irrep, "option", "irrep", lambda: ir.Irrep("1x")),
    bad(ir.Irrep, "range", "parity p", lambda: ir.Irrep(1, 0)),
    bad(ir.Irrep, "size", "l", lambda: ir.Irrep(-1, 1)),
    bad(ir.Irreps, "option", "irreps", lambda: ir.Irreps("8y0e")),
    bad(ir.Irreps, "size", "multiplicity", lambda: ir.Irreps([(-2, "1o")])),
    bad(ir.Irreps, "shape", "Q", lambda: ir.Irreps("1x1o").D(torch.eye(2, dtype=F64))),
    good(ir.Irreps, "empty", lambda: ir.Irreps("").D(EYE), lambda D: D.shape == (0, 0)),
    bad(ir.change_of_basis, "size", "l", lambda: ir.change_of_basis(-1)),
    bad(ir.so3_generators, "dtype", "l", lambda: ir.so3_generators(1.0)),
    bad(ir.rotation_vector, "range", "orthogonal", lambda: ir.rotation_vector(2 * EYE)),
    bad(ir.rotation_vector, "nan", "Q", lambda: ir.rotation_vector(torch.full((3, 3), float("nan"), dtype=F64))),
    good(ir.rotation_vector, "empty", lambda: ir.rotation_vector(torch.zeros(0, 3, 3, dtype=F64)),
         lambda w: w.shape == (0, 3)),
    bad(ir.wigner_D, "range", "orthogonal", lambda: ir.wigner_D(1, torch.ones(3, 3, dtype=F64))),
    bad(ir.wigner_D, "dtype", "Q", lambda: ir.wigner_D(1, torch.eye(3, dtype=L))),
    bad(ir.wigner_D, "size", "l", lambda: ir.wigner_D(-1, EYE)),
    good(ir.wigner_D, "valid", lambda: ir.wigner_D(torch.tensor(2), EYE), lambda D: torch.equal(D, torch.eye(5, dtype=F64))),
    bad(ir.wigner_D_blocks, "size", "l_max", lambda: ir.wigner_D_blocks(2.5, EYE)),
    # -- minignn.clebsch_gordan --------------------------------------------------------------------------------------
    bad(cg.complex_clebsch_gordan, "size", "l2", lambda: cg.complex_clebsch_gordan(1, -1, 1)),
    bad(cg.clebsch_gordan, "dtype", "l1", lambda: cg.clebsch_gordan(1.0, 1, 1)),
    good(cg.clebsch_gordan, "valid", lambda: cg.clebsch_gordan(1, 1, 3), lambda C: C.shape == (3, 3, 7) and not C.any()),
    bad(cg.cached_clebsch_gordan, "dtype", "dtype", lambda: cg.cached_clebsch_gordan(1, 1, 1, torch.int64, None)),
    bad(cg.selection_rule, "option", "irrep", lambda: cg.selection_rule("1", "1o")),
    bad(cg.allowed, "dtype", "l3", lambda: cg.allowed(1, 1, 0.5)),
    # -- minignn.tensor_product --------------------------------------------------------------------------------------
    bad(tp.TensorProduct, "option", "mode", lambda: tp.TensorProduct("1x0e", "1x0e", "1x0e", mode="uuu")),
    bad(tp.TensorProduct, "range", "selection rule", lambda: tp.TensorProduct("1x1o", "1x1o", "1x0o", paths=[(0, 0, 0)])),
    bad(tp.TensorProduct, "shape", "x", lambda: tp.TensorProduct("2x0e", "1x1o", "2x1o")(torch.zeros(3, 3), torch.zeros(3, 3))),
    bad(tp.TensorProduct, "shape", "weight", lambda: tp.TensorProduct("2x0e", "1x1o", "2x1o", shared_weights=False)(
        torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 5))),
    bad(tp.TensorProduct, "dtype", "shared_weights", lambda: tp.TensorProduct("1x0e", "1x0e", "1x0e", shared_weights="no")),
    good(tp.TensorProduct, "empty", lambda: tp.TensorProduct("2x0e", "1x1o", "2x1o")(torch.zeros(0, 2), torch.zeros(0, 3)),
         lambda z: z.shape == (0, 6)),
    bad(tp.channelwise_paths, "option", "irreps", lambda: tp.channelwise_paths("2x1q", "1x1o")),
    bad(tp.Linear, "shape", "x", lambda: tp.Linear("2x0e + 1x1o", "1x1o")(torch.zeros(4, 4))),
    bad(tp.Linear, "dtype", "x", lambda: tp.Linear("2x0e", "1x0e")(torch.zeros(4, 2, dtype=L))),
    # -- minignn.gate ------------------------------------------------------------------------------------------------
    bad(gate.Gate, "shape", "x", lambda: gate.Gate("1x0e + 2x1o")(torch.zeros(3, 7))),
    bad(gate.NormActivation, "shape", "x", lambda: gate.NormActivation("2x1o")(torch.zeros(3, 5))),
    good(gate.NormActivation, "valid", lambda: gate.NormActivation("2x1o")(torch.zeros(3, 6)), finite),
    bad(gate.componentwise_activation, "dtype", "x", lambda: gate.componentwise_activation(torch.zeros(2, 3, dtype=L), "1x1o")),
    # -- minignn.tfn -------------------------------------------------------------------------------------------------
    bad(tfn.edge_harmonics, "coincident", "pos", lambda: tfn.edge_harmonics(torch.zeros(3, 3, dtype=F64), E3, 2)),
    bad(tfn.edge_harmonics, "range", "edge_index", lambda: tfn.edge_harmonics(POS3, E3 + 3, 2)),
    bad(tfn.edge_harmonics, "nan", "pos", lambda: tfn.edge_harmonics(POS3 * float("nan"), E3, 2)),
    good(tfn.edge_harmonics, "empty", lambda: tfn.edge_harmonics(POS3, torch.zeros(2, 0, dtype=L), 1),
         lambda out: out[0].shape == (0, 4) and out[1].shape == (0,)),
    bad(tfn.radial_mlp, "size", "hidden", lambda: tfn.radial_mlp(4, 0, 3)),
    bad(tfn.hidden_irreps, "dtype", "pseudo", lambda: tfn.hidden_irreps(4, 1, pseudo="yes")),
    bad(tfn.check_atom_types, "dtype", "x", lambda: tfn.check_atom_types(torch.zeros(3), 2)),
    bad(tfn.check_atom_types, "range", "atom types", lambda: tfn.check_atom_types(torch.tensor([0, 2]), 2)),
    bad(tfn.check_atom_types, "size", "num_types", lambda: tfn.check_atom_types(torch.tensor([0, 1]), 0)),
    bad(tfn.TFNConv, "shape", "x", lambda: tfn.TFNConv("2x0e", "2x0e").double()(torch.zeros(3, 3, dtype=F64), POS3, E3)),
    bad(tfn.TFNConv, "dtype", "x", lambda: tfn.TFNConv("2x0e", "2x0e").double()(torch.zeros(3, 2), POS3, E3)),
    bad(tfn.TFNConv, "shape", "pos", lambda: tfn.TFNConv("2x0e", "2x0e").double()(torch.zeros(3, 2, dtype=F64), POS3[:2], E3)),
    bad(tfn.TFNConv, "range", "avg_neighbors", lambda: tfn.TFNConv("2x0e", "2x0e", avg_neighbors=-1.0)),
    bad(tfn.NequIPConfig, "size", "layers", lambda: tfn.NequIPConfig(layers=0)),
    bad(tfn.NequIPConfig, "dtype", "pseudo", lambda: tfn.NequIPConfig(pseudo=1)),
    bad(tfn.NequIP, "dtype", "x", lambda: nequip()(TYPES3.double(), POS3, E3)),
    bad(tfn.NequIP, "range", "atom types", lambda: nequip()(TYPES3 + 1, POS3, E3)),
    bad(tfn.NequIP, "coincident", "pos", lambda: nequip()(TYPES3, torch.zeros(3, 3, dtype=F64), E3)),
    bad(tfn.NequIP, "dtype", "pos", lambda: nequip()(TYPES3, POS3.float(), E3)),
    bad(tfn.NequIP, "option", "config", lambda: tfn.NequIP({"width": 4})),
    good(tfn.NequIP, "empty", lambda: nequip()(TYPES3, POS3, torch.zeros(2, 0, dtype=L)), finite),
    # -- minignn.mace ------------------------------------------------------------------------------------------------
    bad(mace.AtomicBasis, "shape", "x", lambda: mace.AtomicBasis("2x0e", "2x0e + 2x1o").double()(
        torch.zeros(3, 4, dtype=F64), POS3, E3)),
    bad(mace.ProductBasis, "shape", "irreps_A", lambda: mace.ProductBasis("2x0e + 3x1o", 2, "1x0e")),
    bad(mace.ProductBasis, "size", "correlation", lambda: mace.ProductBasis("2x0e", 0, "1x0e")),
    bad(mace.ProductBasis, "range", "atom types", lambda: mace.ProductBasis("2x0e", 2, "1x0e", num_types=2)(
        torch.zeros(3, 2), torch.tensor([0, 1, 2]))),
    bad(mace.ProductBasis, "option", "types", lambda: mace.ProductBasis("2x0e", 2, "1x0e")(
        torch.zeros(3, 2), torch.tensor([0, 1, 1]))),
    bad(mace.MACELayer, "option", "types", lambda: mace.MACELayer("2x0e", "2x0e", "2x0e + 2x1o", num_types=2).double()(
        torch.zeros(3, 2, dtype=F64), POS3, E3)),
    bad(mace.MACEConfig, "size", "correlation", lambda: mace.MACEConfig(correlation=0)),
    bad(mace.MACEConfig, "range", "cutoff", lambda: mace.MACEConfig(cutoff=0.0)),
    bad(mace.MACE, "range", "atom types", lambda: mace_model()(TYPES3 - 1, POS3, E3)),
    bad(mace.MACE, "coincident", "pos", lambda: mace_model()(TYPES3, torch.zeros(3, 3, dtype=F64), E3)),
    bad(mace.MACE, "nan", "pos", lambda: mace_model()(TYPES3, POS3 * float("nan"), E3)),
    bad(mace.MACE, "range", "edge_index", lambda: mace_model()(TYPES3, POS3, E3 + 1)),
    bad(mace.MACE, "option", "config", lambda: mace.MACE(mace.MACEConfig(), width=3)),
    good(mace.MACE, "empty", lambda: mace_model()(TYPES3, POS3, torch.zeros(2, 0, dtype=L)), finite),
    # -- minignn.body_order ------------------------------------------------------------------------------------------
    bad(body_order.distance_degenerate_pair, "dtype", "dtype", lambda: body_order.distance_degenerate_pair(torch.int64)),
    bad(body_order.neighbour_distances, "range", "edge_index", lambda: body_order.neighbour_distances(POS3, E3 + 3)),
    good(body_order.neighbour_distances, "empty", lambda: body_order.neighbour_distances(POS3, torch.zeros(2, 0, dtype=L)),
         lambda d: d == [[], [], []]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path):
    run_case(case, pytest, tmp_path)


def test_every_public_name_of_these_modules_has_a_case():
    covered = {id(c.target) for c in CASES}
    missing = [f"{m}.{name}" for m in MODULES for name in importlib.import_module(m).__all__
               if id(getattr(importlib.import_module(m), name)) not in covered]
    assert not missing, missing
