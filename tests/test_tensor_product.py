"""minignn.tensor_product: equal to e3nn with the same weights, equivariant block by block (reflections included)."""

import pytest
import torch

from minignn.geometry import random_reflection, random_rotation
from minignn.irreps import Irreps
from minignn.tensor_product import Linear, TensorProduct, channelwise_paths

F64 = torch.float64
IN1, IN2, OUT = "3x0e + 2x0o + 2x1o + 2x1e + 1x2e", "1x0e + 1x1o + 1x2e", "2x0e + 3x0o + 2x1o + 2x1e + 2x2e + 1x2o + 1x3o"


def transformed(irreps, x, Q):
    return x @ Irreps(irreps).D(Q).T


def test_fully_connected_equals_e3nn(float64_default):
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    ours = TensorProduct(IN1, IN2, OUT)
    theirs = o3.FullyConnectedTensorProduct(IN1, IN2, OUT)
    assert ours.weight_numel == theirs.weight_numel
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
    x, y = torch.randn(7, Irreps(IN1).dim), torch.randn(7, Irreps(IN2).dim)
    expected = theirs(x, y)
    assert (ours(x, y) - expected).abs().max() < 1e-12 * expected.abs().max()


def test_channelwise_with_external_weights_equals_e3nn(float64_default):
    """NequIP's convolution product: 'uvu', one row of weights per edge."""
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    in1, in2 = Irreps("4x0e + 4x1o + 2x2e"), Irreps("0e + 1o + 2e")
    out, paths = channelwise_paths(in1, in2, "0e + 0o + 1o + 1e + 2e + 2o")
    assert len(paths) == len(out) and out.lmax == 2
    instructions = [(i1, i2, io, "uvu", True) for i1, i2, io in paths]
    ours = TensorProduct(in1, in2, out, mode="uvu", shared_weights=False, paths=paths)
    theirs = o3.TensorProduct(str(in1), str(in2), str(out), instructions, shared_weights=False, internal_weights=False)
    assert ours.weight_numel == theirs.weight_numel
    x, y, w = torch.randn(9, in1.dim), torch.randn(9, in2.dim), torch.randn(9, ours.weight_numel)
    expected = theirs(x, y, w)
    assert (ours(x, y, w) - expected).abs().max() < 1e-12 * expected.abs().max()


@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("mode", ["uvw", "uvu"])
def test_every_output_block_is_equivariant_reflections_included(dtype, tol, mode):
    out = OUT if mode == "uvw" else "2x0o + 2x1o + 2x1e + 2x2e + 2x2o"
    in1 = IN1 if mode == "uvw" else "2x1o + 2x1e"
    tp = TensorProduct(in1, IN2, out, mode=mode).to(dtype)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, Irreps(in1).dim, dtype=dtype), torch.randn(5, Irreps(IN2).dim, dtype=dtype)
    z = tp(x, y)
    for Q in (random_rotation(g, dtype), random_reflection(g, dtype), -torch.eye(3, dtype=dtype)):
        zq = tp(transformed(in1, x, Q), transformed(IN2, y, Q))
        expected = transformed(out, z, Q)
        assert (zq - expected).abs().max() <= tol * expected.abs().max()
    # under the inversion a block of parity p is multiplied by p: odd blocks (0o, 1o, 2o, 3o) flip sign, even ones stay
    zi = tp(transformed(in1, x, -torch.eye(3, dtype=dtype)), transformed(IN2, y, -torch.eye(3, dtype=dtype)))
    for (mul, ir), sl in zip(Irreps(out), Irreps(out).slices()):
        assert (zi[:, sl] - ir.p * z[:, sl]).abs().max() <= tol * z.abs().max()
        assert z[:, sl].abs().max() > 1e-3  # every block is reached by a path


def test_linear_equals_e3nn_and_is_equivariant(float64_default):
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    irreps_in, irreps_out = "3x0e + 2x1o + 1x1o + 2x2e", "2x0e + 3x1o + 1x2e + 2x1e"
    ours, theirs = Linear(irreps_in, irreps_out), o3.Linear(irreps_in, irreps_out)
    assert ours.weight_numel == theirs.weight_numel
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
    x = torch.randn(6, Irreps(irreps_in).dim)
    assert (ours(x) - theirs(x)).abs().max() < 1e-12
    z = ours(x)
    assert z[:, -6:].abs().max() == 0  # 2x1e: no input of that irrep
    Q = random_reflection(torch.Generator().manual_seed(1))
    assert (ours(transformed(irreps_in, x, Q)) - transformed(irreps_out, z, Q)).abs().max() < 1e-12


def test_scalar_paths_are_the_dot_product_and_scaling():
    """0e x 0e -> 0e is w x y; 1o x 1o -> 0e is the dot product / sqrt(3) per channel pair."""
    tp = TensorProduct("1x1o", "1x1o", "1x0e").double()
    with torch.no_grad():
        tp.weight.fill_(1.0)
    u, v = torch.randn(4, 3, dtype=F64), torch.randn(4, 3, dtype=F64)
    assert (tp(u, v)[:, 0] - (u * v).sum(-1) / 3 ** 0.5).abs().max() < 1e-14


def test_leading_dimensions_and_zero_rows():
    tp = TensorProduct("2x0e + 1x1o", "1x1o", "1x1o + 1x0e").double()
    x, y = torch.randn(2, 3, 5, dtype=F64), torch.randn(2, 3, 3, dtype=F64)
    z = tp(x, y)
    assert z.shape == (2, 3, 4)
    assert (z[1, 2] - tp(x[1, 2], y[1, 2])).abs().max() < 1e-15
    assert tp(x[:0, 0], y[:0, 0]).shape == (0, 4)


@pytest.mark.parametrize("bad, match", [
    (lambda tp: tp(torch.zeros(2, 4), torch.zeros(2, 3)), r"x must be a floating tensor of shape \[\.\.\., 5\]"),
    (lambda tp: tp(torch.zeros(2, 5), torch.zeros(3, 3)), "x and y must have the same leading shape"),
    (lambda tp: tp(torch.zeros(2, 5), torch.zeros(2, 3), torch.zeros(2, 3)), "has its own weights"),
])
def test_bad_input_raises(bad, match):
    tp = TensorProduct("2x0e + 1x1o", "1x1o", "1x1o + 1x0e")
    with pytest.raises(ValueError, match=match):
        bad(tp)


def test_bad_construction_raises():
    with pytest.raises(ValueError, match="mode must be one of"):
        TensorProduct("1x0e", "1x0e", "1x0e", mode="uuu")
    with pytest.raises(ValueError, match="mode 'uvu' keeps the channels of x"):
        TensorProduct("2x1o", "1x1o", "3x0e", mode="uvu", paths=[(0, 0, 0)])
    with pytest.raises(ValueError, match=r"path \(0, 0, 0\): 0o is not in 1o x 1o"):
        TensorProduct("2x1o", "1x1o", "2x0o", paths=[(0, 0, 0)])
    with pytest.raises(ValueError, match="paths must be"):
        TensorProduct("2x1o", "1x1o", "2x0e", paths=[(0, 0, 1)])
    tp = TensorProduct("2x1o", "1x1o", "2x0e", mode="uvu", shared_weights=False)
    with pytest.raises(ValueError, match=r"weight must have shape \[4, 2\]"):
        tp(torch.zeros(4, 6), torch.zeros(4, 3))


def test_gradcheck_float64():
    tp = TensorProduct("2x0e + 1x1o", "1x0e + 1x1o", "1x0e + 2x1o + 1x1e", mode="uvw").double()
    x = torch.randn(3, 5, dtype=F64, requires_grad=True)
    y = torch.randn(3, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(tp, (x, y))
    uvu = TensorProduct("2x0e + 2x1o", "1x1o", "2x1o + 2x0e", mode="uvu", shared_weights=False).double()
    w = torch.randn(3, uvu.weight_numel, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(uvu, (torch.randn(3, 8, dtype=F64, requires_grad=True),
                                          torch.randn(3, 3, dtype=F64, requires_grad=True), w))
