"""Shared fixtures: seeded random generators and the corner-case graphs of GUIDE.md."""

import random

import numpy as np
import pytest
import torch

from minignn.graph import Graph


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The tests use small tensors: one torch thread avoids oversubscribing a shared machine (results do not depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def float64_default():
    """float64 as torch's default dtype for one test (e3nn builds its constants in the default dtype; the
    spherical-network tests compare with it in float64)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def validation_calls(monkeypatch):
    """``count(*modules) -> calls``: patch ``check_edge_index`` and ``check_pos`` where each module imported them,
    so that ``calls`` counts how often a model validates its inputs (reset it with ``calls.update(...)``)."""
    import minignn.geometry
    import minignn.graph

    calls = {"edge_index": 0, "pos": 0}
    check_ei, check_pos = minignn.graph.check_edge_index, minignn.geometry.check_pos

    def counting_ei(*a, **k):
        calls["edge_index"] += 1
        return check_ei(*a, **k)

    def counting_pos(*a, **k):
        calls["pos"] += 1
        return check_pos(*a, **k)

    def count(*modules):
        for module in modules:
            for name, fn in (("check_edge_index", counting_ei), ("check_pos", counting_pos)):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, fn)
        return calls

    return count


def adam_losses(model, inputs: tuple, target: float = 1.0, steps: int = 15, lr: float = 1e-2) -> list:
    """The losses of ``steps`` Adam steps fitting ``model(*inputs)`` to ``target`` (squared error)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (model(*inputs) - target).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.fixture
def train_briefly():
    """:func:`adam_losses` as a fixture (a test module cannot import conftest)."""
    return adam_losses


@pytest.fixture
def empty_graph():
    return Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.empty(0, 3))


@pytest.fixture
def single_node():
    return Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.randn(1, 3))


@pytest.fixture
def isolated_nodes():
    """A path 0 -> 1 -> 2 and two trailing isolated nodes 3 and 4."""
    return Graph(edge_index=torch.tensor([[0, 1], [1, 2]]), x=torch.randn(5, 3))


@pytest.fixture
def self_loop():
    """A triangle with a self-loop on node 0."""
    return Graph(edge_index=torch.tensor([[0, 0, 1, 2], [0, 1, 2, 0]]), x=torch.randn(3, 3))


@pytest.fixture
def corner_graphs(empty_graph, single_node, isolated_nodes, self_loop):
    return {"empty": empty_graph, "single": single_node, "isolated": isolated_nodes, "self_loop": self_loop}
