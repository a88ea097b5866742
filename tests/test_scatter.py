"""Tests for minignn.scatter and minignn.plan: every backend against a Python loop."""

import pytest
import torch

from minignn import scatter as scatter_module
from minignn.plan import AggregationPlan
from minignn.scatter import REDUCES, has_torch_scatter, scatter


def loop_scatter(src, index, dim_size, reduce):
    """The oracle: ``for x, i in zip(src, index): out[i] (+)= x`` (dim 0), empty groups give 0."""
    groups = {}
    for x, i in zip(src, index.tolist()):
        groups.setdefault(i, []).append(x)
    out = torch.zeros((dim_size,) + tuple(src.shape[1:]), dtype=src.dtype)
    for i, xs in groups.items():
        stack = torch.stack(xs)
        ops = {"sum": lambda s: s.sum(0), "mean": lambda s: s.mean(0),
               "max": lambda s: s.max(0).values, "min": lambda s: s.min(0).values}
        out[i] = ops[reduce](stack)
    return out


def backends_for(reduce):
    names = ["torch", None]
    if reduce in ("sum", "mean"):
        names.append("csr")
    if has_torch_scatter():
        names.append("torch_scatter")
    return names


def make_case(name, dtype=torch.float64):
    """(src, index, dim_size) for a named corner case."""
    if name == "random":
        return torch.randn(40, 3, dtype=dtype), torch.randint(0, 7, (40,)), 9  # 2 trailing isolated
    if name == "empty":
        return torch.randn(0, 3, dtype=dtype), torch.zeros(0, dtype=torch.long), 5
    if name == "one_destination":
        return torch.randn(12, 4, dtype=dtype), torch.full((12,), 2), 4
    if name == "all_distinct":
        return torch.randn(6, 2, dtype=dtype), torch.randperm(6), 6
    if name == "sorted":
        return torch.randn(30, 5, dtype=dtype), torch.sort(torch.randint(0, 8, (30,))).values, 8
    if name == "three_dims":
        return torch.randn(25, 3, 2, dtype=dtype), torch.randint(0, 5, (25,)), 5
    raise KeyError(name)


CASES = ["random", "empty", "one_destination", "all_distinct", "sorted", "three_dims"]


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("case", CASES)
def test_every_backend_equals_loop(case, reduce):
    src, index, dim_size = make_case(case)
    expected = loop_scatter(src, index, dim_size, reduce)
    for backend in backends_for(reduce):
        out = scatter(src, index, dim=0, dim_size=dim_size, reduce=reduce, backend=backend)
        assert out.shape == expected.shape, backend
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12, msg=f"backend={backend}")


@pytest.mark.parametrize("reduce", REDUCES)
def test_other_dim_and_negative_dim(reduce):
    src = torch.randn(3, 20, 2, dtype=torch.float64)
    index = torch.randint(0, 6, (20,))
    expected = loop_scatter(src.movedim(1, 0), index, 6, reduce).movedim(0, 1)
    for backend in backends_for(reduce):
        for dim in (1, -2):
            out = scatter(src, index, dim=dim, dim_size=6, reduce=reduce, backend=backend)
            torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_default_dim_size_is_max_plus_one_and_explicit_keeps_isolated():
    src, index = torch.ones(3, 2), torch.tensor([0, 2, 2])
    assert scatter(src, index).shape == (3, 2)
    out = scatter(src, index, dim_size=5)
    assert out.shape == (5, 2) and out[3:].abs().sum() == 0
    assert scatter(torch.ones(0, 2), torch.zeros(0, dtype=torch.long)).shape == (0, 2)
    # an int32 index is accepted and gives the same result
    torch.testing.assert_close(scatter(src, index.int(), dim_size=5), out, rtol=0, atol=0)
    with pytest.raises(ValueError, match="dim_size must be >= 0"):
        scatter(torch.ones(0, 2), torch.zeros(0, dtype=torch.long), dim_size=-1)


def test_float32_smoke():
    src, index, dim_size = make_case("random", torch.float32)
    for reduce in REDUCES:
        expected = loop_scatter(src, index, dim_size, reduce)
        for backend in backends_for(reduce):
            out = scatter(src, index, dim_size=dim_size, reduce=reduce, backend=backend)
            assert out.dtype == torch.float32
            torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduce", REDUCES)
def test_gradcheck_every_backend(reduce):
    # distinct values so that max/min have a unique argmax (no ties)
    src = torch.randn(30, 3, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 6, (30,))
    for backend in backends_for(reduce):
        fn = lambda s: scatter(s, index, dim_size=8, reduce=reduce, backend=backend)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (src,)), backend


@pytest.mark.parametrize("reduce", REDUCES)
def test_equals_torch_scatter(reduce):
    torch_scatter = pytest.importorskip("torch_scatter")
    if not has_torch_scatter():
        pytest.skip("MINIGNN_NO_TORCH_SCATTER is set")
    src, index, dim_size = make_case("random")
    expected = torch_scatter.scatter(src, index, dim=0, dim_size=dim_size, reduce=reduce)
    for backend in backends_for(reduce):
        out = scatter(src, index, dim_size=dim_size, reduce=reduce, backend=backend)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_env_variable_disables_torch_scatter(monkeypatch):
    monkeypatch.setenv("MINIGNN_NO_TORCH_SCATTER", "1")
    assert not has_torch_scatter()
    with pytest.raises(ValueError, match="torch_scatter is not importable"):
        scatter(torch.ones(2, 1), torch.tensor([0, 1]), backend="torch_scatter")
    # the default path still works without it
    src, index, dim_size = make_case("random")
    for reduce in REDUCES:
        torch.testing.assert_close(scatter(src, index, dim_size=dim_size, reduce=reduce),
                                   loop_scatter(src, index, dim_size, reduce), rtol=0, atol=1e-12)


def test_bad_input_raises_clear_errors():
    src = torch.randn(4, 2)
    with pytest.raises(ValueError, match="same length"):
        scatter(src, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="must be < dim_size = 3"):
        scatter(src, torch.tensor([0, 1, 2, 3]), dim_size=3)
    with pytest.raises(ValueError, match="non-negative"):
        scatter(src, torch.tensor([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="integer dtype"):
        scatter(src, torch.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="reduce must be one of"):
        scatter(src, torch.tensor([0, 1, 2, 1]), reduce="prod")
    with pytest.raises(ValueError, match="backend must be None or one of"):
        scatter(src, torch.tensor([0, 1, 2, 1]), backend="cuda")
    with pytest.raises(ValueError, match="'sum' and 'mean' only"):
        scatter(src, torch.tensor([0, 1, 2, 1]), reduce="max", backend="csr")
    with pytest.raises(ValueError, match="1-D"):
        scatter(src, torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="dim must be in"):
        scatter(src, torch.tensor([0, 1, 2, 1]), dim=2)


# -- integers: exact sums, maxima and minima; no mean ---------------------------------------------
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_integer_mean_is_rejected_on_every_backend(dtype):
    """torch_scatter would floor the mean of [-6, -7] to -7 in int64, index_add give -6.5 in float32: neither."""
    src, index = torch.tensor([[-6], [-7], [3]]).to(dtype), torch.tensor([0, 0, 1])
    for backend in backends_for("mean"):
        for idx in (index, index.flip(0)):  # sorted (the default picks csr) and unsorted
            with pytest.raises(ValueError, match=rf"reduce='mean' needs src of a floating-point dtype, got "
                                                 rf"src\.dtype = {dtype} .*convert it first, e\.g\. src\.float\(\)"):
                scatter(src, idx, reduce="mean", backend=backend)
    # the fix the message gives
    torch.testing.assert_close(scatter(torch.tensor([[-6], [-7], [3]]).double(), index, reduce="mean"),
                               torch.tensor([[-6.5], [3.0]], dtype=torch.float64))


@pytest.mark.parametrize("reduce", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_integer_sum_max_min_agree_on_every_backend(reduce, dtype):
    src = torch.randint(-50, 50, (40, 3), dtype=dtype)
    for index in (torch.randint(0, 7, (40,)), torch.sort(torch.randint(0, 7, (40,))).values):
        expected = loop_scatter(src, index, 9, reduce)  # rows 7 and 8 receive nothing: 0
        for backend in backends_for(reduce):
            out = scatter(src, index, dim_size=9, reduce=reduce, backend=backend)
            assert out.dtype == dtype, backend
            assert torch.equal(out, expected), backend


# -- AggregationPlan -------------------------------------------------------------------

def random_graph(num_nodes=9, num_edges=40):
    edge_index = torch.randint(0, num_nodes - 2, (2, num_edges))  # two isolated nodes at the end
    edge_index[:, :3] = torch.tensor([[1, 4, 4], [1, 4, 0]])  # self-loops and a repeated source
    return edge_index, num_nodes


def gather_reference(x, edge_index, num_nodes, edge_weight=None, reduce="sum"):
    src, dst = edge_index
    messages = x[src] if edge_weight is None else x[src] * edge_weight.view(-1, *[1] * (x.dim() - 1))
    return loop_scatter(messages, dst, num_nodes, reduce)


@pytest.mark.parametrize("reduce", REDUCES)
def test_plan_aggregate_equals_loop(reduce):
    edge_index, num_nodes = random_graph()
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    for shape in [(40, 3), (40,), (40, 2, 3)]:
        messages = torch.randn(shape, dtype=torch.float64)
        torch.testing.assert_close(plan.aggregate(messages, reduce),
                                   loop_scatter(messages, edge_index[1], num_nodes, reduce), rtol=0, atol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_plan_propagate_equals_gather_then_loop(reduce):
    edge_index, num_nodes = random_graph()
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    x = torch.randn(num_nodes, 5, dtype=torch.float64)
    w = torch.rand(edge_index.shape[1], dtype=torch.float64)
    for weight in (None, w):
        expected = gather_reference(x, edge_index, num_nodes, weight, reduce)
        torch.testing.assert_close(plan.propagate(x, weight, reduce), expected, rtol=0, atol=1e-12)
    x3 = torch.randn(num_nodes, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(plan.propagate(x3, w, reduce), gather_reference(x3, edge_index, num_nodes, w, reduce),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("reduce", REDUCES)
def test_plan_gradcheck(reduce):
    edge_index, num_nodes = random_graph(7, 25)
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    messages = torch.randn(25, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: plan.aggregate(m, reduce), (messages,))
    if reduce in ("sum", "mean"):
        x = torch.randn(num_nodes, 4, dtype=torch.float64, requires_grad=True)
        w = torch.randn(25, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, w: plan.propagate(x, w, reduce), (x, w))
        assert torch.autograd.gradcheck(lambda x: plan.propagate(x, None, reduce), (x,))
        # second derivatives too (forces = -dE/dpos trained with create_graph=True)
        assert torch.autograd.gradgradcheck(lambda x, w: plan.propagate(x, w, reduce), (x, w))
        assert torch.autograd.gradgradcheck(lambda m: plan.aggregate(m, reduce), (messages,))


def test_plan_batch_of_two_equals_per_graph():
    (e1, n1), (e2, n2) = random_graph(6, 15), random_graph(9, 30)
    batch = torch.cat([e1, e2 + n1], dim=1)
    x = torch.randn(n1 + n2, 3, dtype=torch.float64)
    w = torch.rand(45, dtype=torch.float64)
    together = AggregationPlan.from_edge_index(batch, n1 + n2).propagate(x, w)
    apart = torch.cat([AggregationPlan.from_edge_index(e1, n1).propagate(x[:n1], w[:15]),
                       AggregationPlan.from_edge_index(e2, n2).propagate(x[n1:], w[15:])])
    torch.testing.assert_close(together, apart, rtol=0, atol=1e-12)


def test_plan_empty_graph_and_no_edges():
    plan = AggregationPlan.from_edge_index(torch.zeros(2, 0, dtype=torch.long), 4)
    x = torch.randn(4, 3, requires_grad=True)
    out = plan.propagate(x)
    assert out.shape == (4, 3) and out.abs().sum() == 0
    assert plan.aggregate(torch.zeros(0, 3), "max").shape == (4, 3)
    empty = AggregationPlan.from_edge_index(torch.zeros(2, 0, dtype=torch.long), 0)
    assert empty.propagate(torch.zeros(0, 2)).shape == (0, 2)


def test_plan_is_reused_and_float32_smoke():
    edge_index, num_nodes = random_graph()
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    x = torch.randn(num_nodes, 4, requires_grad=True)
    for _ in range(3):  # several layers with one plan; backward twice builds the transpose once
        out = plan.propagate(x)
        out.square().sum().backward()
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, gather_reference(x.detach(), edge_index, num_nodes), rtol=1e-5, atol=1e-5)
    expected_grad = 3 * gather_reference(2 * out.detach(), edge_index.flip(0), num_nodes)
    torch.testing.assert_close(x.grad, expected_grad, rtol=1e-5, atol=1e-5)


def test_plan_bad_input():
    edge_index, num_nodes = random_graph()
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        AggregationPlan.from_edge_index(edge_index[0], num_nodes)
    with pytest.raises(ValueError, match="must be < num_nodes"):
        AggregationPlan.from_edge_index(edge_index, 3)
    with pytest.raises(ValueError, match="integer dtype"):
        AggregationPlan.from_edge_index(edge_index.double(), num_nodes)
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    with pytest.raises(ValueError, match=r"messages must have shape \[E=40"):
        plan.aggregate(torch.randn(39, 2))
    with pytest.raises(ValueError, match=r"x must have shape \[num_nodes=9"):
        plan.propagate(torch.randn(8, 2))
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=40\]"):
        plan.propagate(torch.randn(9, 2), torch.randn(39))
    with pytest.raises(ValueError, match="reduce must be one of"):
        plan.propagate(torch.randn(9, 2), reduce="max")
    with pytest.raises(ValueError, match="from_edge_index"):
        AggregationPlan.from_index(edge_index[1], num_nodes).propagate(torch.randn(9, 2))


def test_plan_gather_equals_indexing_and_gradcheck():
    edge_index, num_nodes = random_graph(7, 25)
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    x = torch.randn(num_nodes, 2, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(plan.gather(x), x[edge_index[0]], rtol=0, atol=0)
    assert torch.autograd.gradcheck(plan.gather, (x,))
    assert torch.autograd.gradgradcheck(plan.gather, (x,))


def test_default_backend_choice(monkeypatch):
    x = torch.randn(5, 2)
    unsorted, ordered = torch.tensor([2, 0, 1, 0, 2]), torch.tensor([0, 0, 1, 2, 2])
    assert scatter_module.choose_backend("sum", None, x, ordered) == "csr"
    assert scatter_module.choose_backend("mean", None, x, ordered) == "csr"
    expected = "torch_scatter" if has_torch_scatter() else "torch"
    assert scatter_module.choose_backend("sum", None, x, unsorted) == expected
    assert scatter_module.choose_backend("max", None, x, ordered) == "torch"
    assert scatter_module.choose_backend("min", None, x, unsorted) == "torch"
    assert scatter_module.choose_backend("sum", None, torch.ones(5, dtype=torch.long), ordered) == expected
    monkeypatch.setenv("MINIGNN_NO_TORCH_SCATTER", "1")
    assert scatter_module.choose_backend("sum", None, x, unsorted) == "torch"
    # integer src: the default (non-csr) path still equals the loop
    ints = torch.randint(-5, 5, (5, 2))
    torch.testing.assert_close(scatter(ints, unsorted, reduce="sum"), loop_scatter(ints, unsorted, 3, "sum"))


@pytest.mark.parametrize("reduce", REDUCES)
def test_plan_on_sorted_edges_equals_plan_on_shuffled_edges(reduce):
    edge_index, num_nodes = random_graph()
    order = torch.argsort(edge_index[1], stable=True)
    sorted_plan = AggregationPlan.from_edge_index(edge_index[:, order], num_nodes)
    shuffled_plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    assert sorted_plan.is_sorted and not shuffled_plan.is_sorted
    messages = torch.randn(edge_index.shape[1], 4, dtype=torch.float64)
    torch.testing.assert_close(sorted_plan.aggregate(messages[order], reduce),
                               shuffled_plan.aggregate(messages, reduce), rtol=0, atol=1e-12)
    if reduce in ("sum", "mean"):
        x, w = torch.randn(num_nodes, 3, dtype=torch.float64), torch.rand(edge_index.shape[1], dtype=torch.float64)
        torch.testing.assert_close(sorted_plan.propagate(x, w[order], reduce),
                                   shuffled_plan.propagate(x, w, reduce), rtol=0, atol=1e-12)


def test_plan_gather_dst_equals_indexing_and_gradcheck():
    edge_index, num_nodes = random_graph(7, 25)
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    x = torch.randn(num_nodes, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(plan.gather(x, "dst"), x[edge_index[1]], rtol=0, atol=0)
    assert torch.autograd.gradcheck(lambda x: plan.gather(x, "dst"), (x,))
    with pytest.raises(ValueError, match="side must be 'src' or 'dst'"):
        plan.gather(x, "both")


def test_scatter_softmax_equals_per_group_softmax_and_gradcheck():
    scores = torch.randn(30, 2, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 6, (30,))
    alpha = scatter_module.scatter_softmax(scores, index, dim_size=8)
    for j in range(8):
        group = index == j
        if group.any():
            torch.testing.assert_close(alpha[group], torch.softmax(scores[group], dim=0), rtol=0, atol=1e-12)
    # large scores do not overflow (the max is subtracted)
    big = scatter_module.scatter_softmax(1000 + scores.detach(), index, dim_size=8)
    torch.testing.assert_close(big, alpha.detach(), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda s: scatter_module.scatter_softmax(s, index, 8), (scores,))
    with pytest.raises(ValueError, match="floating-point"):
        scatter_module.scatter_softmax(torch.ones(3, dtype=torch.long), torch.tensor([0, 0, 1]))
