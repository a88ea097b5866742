"""minignn.timing: the timer, the random workloads, the live sweep and the parser of the aggregation table."""

import importlib.util
import pathlib

import pytest
import torch

from minignn import results
from minignn.timing import aggregation_sweep, copy_bandwidth, min_time, random_graph, read_aggregation_results

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("aggregation_benchmark", ROOT / "benchmarks" / "aggregation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    """A stand-in for time.perf_counter: each call to a timed function advances it by that function's next duration."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_min_time_is_the_minimum_over_interleaved_rounds(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("minignn.timing.perf_counter", clock)
    calls = []
    durations = {"a": iter([9.0, 5.0, 3.0, 4.0]), "b": iter([9.0, 2.0, 7.0, 1.0])}  # first: the warm-up

    def timed(name):
        def fn():
            calls.append(name)
            clock.now += next(durations[name])
        return fn

    best = min_time({"a": timed("a"), "b": timed("b")}, repeats=3)
    assert best == {"a": 3.0, "b": 1.0}
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then interleaved rounds


def test_min_time_keeps_fast_calls_running_until_min_seconds(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("minignn.timing.perf_counter", clock)
    counts = {"fast": 0, "slow": 0}

    def make(name, step):
        def fn():
            counts[name] += 1
            clock.now += step
        return fn

    min_time({"fast": make("fast", 0.1), "slow": make("slow", 1.0)}, repeats=2, min_seconds=1.0)
    assert counts["slow"] == 1 + 2  # warm-up + repeats: 2 s spent already
    assert counts["fast"] == 1 + 10  # warm-up + until 1.0 s is spent


@pytest.mark.parametrize("kwargs, match", [
    (dict(repeats=0), "repeats must be a positive integer"),
    (dict(repeats=2.5), "repeats must be a positive integer"),
    (dict(repeats=5, max_rounds=3), "max_rounds must be an integer >= repeats"),
    (dict(repeats=1, min_seconds=-1.0), "min_seconds must be >= 0"),
])
def test_min_time_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        min_time({"f": lambda: None}, **kwargs)


def test_min_time_rejects_a_non_callable():
    with pytest.raises(ValueError, match=r"fns\['x'\] must be a callable"):
        min_time({"x": 3}, repeats=1)


def test_min_time_of_no_callables_is_empty():
    assert min_time({}, repeats=3) == {}


def test_copy_bandwidth_is_positive_and_rejects_an_empty_buffer():
    assert copy_bandwidth(2**20, repeats=2) > 0
    with pytest.raises(ValueError, match="nbytes must be at least 4"):
        copy_bandwidth(2)


def test_random_graph_shapes_ranges_and_seed():
    edge_index, n = random_graph(7, 50, torch.Generator().manual_seed(3))
    assert n == 7 and edge_index.shape == (2, 50) and edge_index.dtype == torch.int64
    assert edge_index.min() >= 0 and edge_index.max() < 7
    again, _ = random_graph(7, 50, torch.Generator().manual_seed(3))
    assert torch.equal(edge_index, again)
    empty, _ = random_graph(3, 0)
    assert empty.shape == (2, 0)
    with pytest.raises(ValueError, match="num_nodes >= 1 and num_edges >= 0"):
        random_graph(0, 10)


def test_aggregation_sweep_rows_and_thread_count_restored():
    before = torch.get_num_threads()
    rows = aggregation_sweep(edge_counts=(200, 1000), num_features=4, repeats=1, threads=1)
    assert torch.get_num_threads() == before
    methods = {"torch (index_add)", "plan (random order)", "plan (sorted)"}
    for e in (200, 1000):
        found = {r["method"] for r in rows if r["E"] == e}
        assert methods <= found
        assert all(r["ns_per_edge"] > 0 for r in rows if r["E"] == e)


@pytest.mark.parametrize("kwargs, match", [
    (dict(edge_counts=()), "edge_counts must be a non-empty sequence"),
    (dict(edge_counts=(100, 0)), "edge_counts must be a non-empty sequence"),
    (dict(edge_counts=(100,), num_features=0), "num_features and avg_degree must be >= 1"),
])
def test_aggregation_sweep_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        aggregation_sweep(**kwargs)


def test_read_aggregation_results_round_trips_the_benchmark_table(tmp_path):
    bench = _benchmark()
    rows = [dict(workload="qm9", order="sorted", E=1000, F=8, kind="aggregate fwd", method=m, seconds=s)
            for m, s in (("torch_scatter", 2e-6), ("minignn plan.aggregate (default)", 1e-6))]
    rows.append(dict(workload="random", order="random", E=500, F=8, kind="plan build",
                     method="AggregationPlan.from_edge_index", seconds=3e-5))
    bench.annotate(rows, bandwidth=20e9)
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n")
    bench.write_section(bench.section(rows, 20e9, "python benchmarks/aggregation.py --quick"), path)
    meta, parsed = read_aggregation_results(path)
    assert meta["bandwidth"] == pytest.approx(20e9)
    assert meta["command"] == "python benchmarks/aggregation.py --quick"
    assert [(r["workload"], r["order"], r["kind"], r["method"]) for r in parsed] == [
        (r["workload"], r["order"], r["kind"], r["method"]) for r in rows]
    assert parsed[0]["ns_per_edge"] == pytest.approx(2.0) and parsed[0]["speedup"] == pytest.approx(1.0)
    assert parsed[1]["ns_per_edge"] == pytest.approx(1.0) and parsed[1]["speedup"] == pytest.approx(2.0)
    assert parsed[1]["x_bound"] == pytest.approx(1.0 / (1e9 * 40 / 20e9), abs=0.05)
    assert parsed[2]["x_bound"] is None and parsed[2]["speedup"] is None


def test_read_aggregation_results_of_the_repository_file():
    meta, rows = read_aggregation_results()
    assert meta["bandwidth"] > 1e9
    kinds = {r["kind"] for r in rows}
    assert {"aggregate fwd", "aggregate fwd+bwd", "step fwd+bwd", "memory reference"} <= kinds
    assert {(r["workload"], r["order"]) for r in rows} == {(w, o) for w in ("qm9", "random") for o in ("random", "sorted")}


def test_read_aggregation_results_explains_a_missing_or_empty_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n")
    with pytest.raises(ValueError, match="has no aggregation section"):
        read_aggregation_results(path)
    results.write_section("aggregation", "## Aggregation\n\n- copy bandwidth: 3.0 GB/s\n", path)
    with pytest.raises(ValueError, match="has no table rows"):
        read_aggregation_results(path)
    results.write_section("aggregation", "## Aggregation\n\n- date: today\n", path)
    with pytest.raises(ValueError, match="no '- copy bandwidth"):
        read_aggregation_results(path)
