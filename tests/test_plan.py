"""minignn.plan in the package: one-way dependency on minignn.scatter, public names only, the integer-mean rule.

(Its numerics, against a Python loop, are in tests/test_scatter.py.)"""

import ast
import pathlib
import subprocess
import sys

import pytest
import torch

from minignn.plan import AggregationPlan

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minignn"


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path):
    """``[(line, module, name)]`` for every ``from <minignn module> import name`` of a file (lazy ones too)."""
    out = []
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve it against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "minignn" or module.startswith("minignn."):
                out += [(node.lineno, module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if a.name.startswith("minignn")]
    return out


def test_no_module_imports_a_private_name_from_another():
    """``from minignn.x import _y`` reaches into another module's internals: make ``_y`` public or keep it there."""
    bad = []
    for name, path in MODULES.items():
        for line, module, imported in imports_of(path):
            if imported and imported.startswith("_") and not imported.endswith("__") and module != name:
                bad.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {imported}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def dependencies():
    """``{module: set of minignn modules it imports}``, lazy imports inside functions included."""
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for _, module, imported in imports_of(path):
            deps.add(module)
            if imported and f"{module}.{imported}" in MODULES:  # from minignn import units
                deps.add(f"{module}.{imported}")
        graph[name] = {d for d in deps if d in MODULES and d != name}
    return graph


def reachable(graph, start):
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph.get(m, ())
    return seen


@pytest.mark.parametrize("module", ["minignn.scatter", "minignn.plan", "minignn.mpnn", "minignn.laplacian"])
def test_aggregation_modules_are_in_no_import_cycle(module):
    graph = dependencies()
    assert module not in reachable(graph, module), f"{module} imports itself through {sorted(reachable(graph, module))}"


def test_plan_depends_on_scatter_and_not_the_reverse():
    graph = dependencies()
    assert "minignn.scatter" in graph["minignn.plan"]
    assert "minignn.plan" not in reachable(graph, "minignn.scatter")
    assert "minignn.mpnn" in graph["minignn.laplacian"] and "minignn.laplacian" not in reachable(graph, "minignn.mpnn")


@pytest.mark.parametrize("order", [("minignn.scatter", "minignn.plan", "minignn.mpnn", "minignn.laplacian"),
                                   ("minignn.plan", "minignn.scatter", "minignn.laplacian", "minignn.mpnn")])
def test_fresh_interpreter_imports_in_either_order(order):
    """scatter before plan and plan before scatter (and mpnn / laplacian both ways), each in a new interpreter."""
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in order) + (
        "from minignn.plan import AggregationPlan\nfrom minignn.scatter import scatter\n"
        "from minignn.laplacian import GCNConv\nfrom minignn.mpnn import MessagePassing\n"
        "assert issubclass(GCNConv, MessagePassing)\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# -- the integer-mean rule, as in scatter ---------------------------------------------------------
def small_plan():
    return AggregationPlan.from_edge_index(torch.tensor([[0, 1, 2, 2], [1, 1, 0, 3]]), 5)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_plan_mean_of_integers_is_rejected(dtype):
    plan = small_plan()
    messages = torch.tensor([[-6], [-7], [3], [1]]).to(dtype)
    with pytest.raises(ValueError, match=rf"reduce='mean' needs messages of a floating-point dtype, got "
                                         rf"messages\.dtype = {dtype} .*convert it first, e\.g\. messages\.float\(\)"):
        plan.aggregate(messages, "mean")
    with pytest.raises(ValueError, match=rf"reduce='mean' needs x of a floating-point dtype, got x\.dtype = {dtype}"):
        plan.propagate(torch.ones(5, 2, dtype=dtype), reduce="mean")


def test_plan_integer_sum_max_min_are_exact():
    plan = small_plan()
    messages = torch.tensor([[-6, 2], [-7, 5], [3, -1], [1, 0]])
    expected = {"sum": [[3, -1], [-13, 7], [0, 0], [1, 0], [0, 0]],
                "max": [[3, -1], [-6, 5], [0, 0], [1, 0], [0, 0]],
                "min": [[3, -1], [-7, 2], [0, 0], [1, 0], [0, 0]]}
    for reduce, rows in expected.items():
        out = plan.aggregate(messages, reduce)
        assert out.dtype == torch.int64 and out.tolist() == rows, reduce
    x = torch.arange(10).view(5, 2)
    assert plan.propagate(x).tolist() == [[4, 5], [2, 4], [0, 0], [4, 5], [0, 0]]
    # the mean of the same numbers once converted, as the error message says
    torch.testing.assert_close(plan.aggregate(messages.double(), "mean")[1], torch.tensor([-6.5, 3.5], dtype=torch.float64))
