"""minignn.gate: a per-component nonlinearity breaks equivariance; gates and norms keep it."""

import pytest
import torch

from minignn.gate import Gate, NormActivation, componentwise_activation
from minignn.geometry import random_reflection, random_rotation
from minignn.irreps import Irreps
from minignn.testing import check_euclidean, relative_error

F64 = torch.float64
IRREPS = Irreps("3x0e + 2x0o + 2x1o + 1x1e + 2x2e")


def errors(fn, irreps_in, irreps_out, dtype=F64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, Irreps(irreps_in).dim, dtype=dtype, generator=g)
    out = []
    for Q in (random_rotation(g, dtype), random_reflection(g, dtype)):
        out.append(relative_error(fn(x @ Irreps(irreps_in).D(Q).T), fn(x) @ Irreps(irreps_out).D(Q).T))
    return out


@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 1e-5)])
def test_gate_and_norm_activation_are_equivariant(dtype, tol):
    gate = Gate(IRREPS).to(dtype)
    assert gate.irreps_in == IRREPS + Irreps("5x0e") and gate.num_gates == 5
    assert max(errors(gate, gate.irreps_in, IRREPS, dtype)) < tol
    norm = NormActivation(IRREPS).to(dtype)
    with torch.no_grad():
        norm.bias.normal_()
    assert max(errors(norm, IRREPS, IRREPS, dtype)) < tol


def test_componentwise_nonlinearity_breaks_equivariance():
    """The slides' warning: SiLU on each m component gives an O(1) error under rotations."""
    err = errors(lambda x: componentwise_activation(x, IRREPS), IRREPS, IRREPS)
    assert min(err) > 0.05
    # on even scalars alone it is fine: they do not move
    scalars = Irreps("4x0e")
    assert max(errors(lambda x: componentwise_activation(x, scalars), scalars, scalars)) == 0.0


def test_gate_formula_and_odd_scalars():
    gate = Gate("1x0e + 1x0o + 2x1o").double()
    x = torch.randn(3, 1 + 1 + 6 + 2, dtype=F64)
    out = gate(x)
    assert torch.equal(out[:, 0], torch.nn.functional.silu(x[:, 0]))
    assert torch.equal(out[:, 1], torch.tanh(x[:, 1]))  # odd function: the pseudoscalar keeps its parity
    expected = x[:, 2:8].reshape(3, 2, 3) * torch.sigmoid(x[:, 8:10])[..., None]
    assert torch.equal(out[:, 2:8], expected.reshape(3, 6))


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"x must be a floating tensor of shape \[\.\.\., 10\]"):
        Gate("1x0e + 1x0o + 2x1o")(torch.zeros(3, 8))
    with pytest.raises(ValueError, match="cannot read the term"):
        NormActivation("2x1q")
    with pytest.raises(ValueError, match=r"x must be a floating tensor"):
        componentwise_activation(torch.zeros(2, 3, dtype=torch.int64), "1x1o")


def test_a_network_with_the_per_component_nonlinearity_fails_the_symmetry_check_and_the_gated_one_passes():
    """Two TFN convolutions with a nonlinearity between them, checked by minignn.testing.check_euclidean:
    per component, rotations and reflections fail (translations and permutations still pass); gated, all pass."""
    from minignn.testing import random_molecule
    from minignn.tfn import TFNConv

    g = torch.Generator().manual_seed(3)
    pos, x, edge_index = random_molecule(8, 2, cutoff=3.0, generator=g)
    hidden, out = Irreps("4x0e + 4x1o + 4x2e"), Irreps("2x0e + 2x1o")
    gate = Gate(hidden).double()
    first = TFNConv("2x0e", gate.irreps_in, l_max=2, cutoff=3.0).double()
    second = TFNConv(hidden, out, l_max=2, cutoff=3.0).double()

    def gated(x, pos, edge_index):
        return second(gate(first(x, pos, edge_index)), pos, edge_index)

    def per_component(x, pos, edge_index):
        h = first(x, pos, edge_index)[:, : hidden.dim]  # the same features, the gates left out
        return second(componentwise_activation(h, hidden), pos, edge_index)

    ok = check_euclidean(gated, x, pos, edge_index, outputs=(out.D,), levels=("nodes",), generator=g)
    assert max(ok.values()) < 1e-12, ok
    broken = check_euclidean(per_component, x, pos, edge_index, outputs=(out.D,), levels=("nodes",), generator=g)
    assert broken["rotation"] > 1e-2 and broken["reflection"] > 1e-2, broken
    assert broken["translation"] < 1e-12 and broken["permutation"] < 1e-12, broken
