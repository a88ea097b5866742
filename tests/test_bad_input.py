"""Bad input never passes silently: a table of bad inputs for every public name of minignn (issue 16).

Each case expects either a clear ``ValueError`` / ``FileNotFoundError`` raised by minignn itself (never by torch or
numpy) whose message names the argument, or a finite, correct result (see ``bad_input_support``).  This file holds
the graphs, scatter, geometry, spectral, spherical and tooling modules and the meta-tests;
``test_bad_input_models.py`` the models, training and diffusion, ``test_bad_input_data.py`` the data sets, files,
checkpoints and chemistry.  The meta-test fails when a name in any module's ``__all__`` has no case and no
documented exemption.
"""

from __future__ import annotations

import importlib
import math
import pkgutil

import networkx as nx
import numpy as np
import pytest
import torch

import minignn
import minignn.datasets
import test_bad_input_data
import test_bad_input_models
import test_bad_input_spherical
from bad_input_support import KINDS, bad, finite, good, run_case, with_env
from minignn import checks, results, testing, timing, units
from minignn.geometry import (apply_transform, center, check_pos, random_reflection, random_rotation,
                              random_translation, rotation_about_axis)
from minignn.graph import (Graph, add_remaining_self_loops, add_self_loops, batch, call_model, check_edge_index,
                           coalesce, degree, from_dense, from_networkx, remove_self_loops, to_dense, to_networkx,
                           to_undirected, unbatch)
from minignn.hypergraph import (HyperGraph, angle_faces, angles, edge_lengths, edge_vectors, path_faces,
                                tetrahedron_volumes, torsion_faces, torsions, triangle_areas, triangle_faces,
                                zmatrix_to_positions)
from minignn.invariants import face_corners
from minignn.laplacian import (ChebConv, GCNConv, Laplacian, PolynomialFilter, chebyshev_filter, codifferential,
                               dense_laplacian, differential, gcn_norm, laplacian_matrix, polynomial_filter)
from minignn.neighbours import fully_connected, radius_graph
from minignn.nerve import Nerve, NerveLayer, NerveNetwork, clique_complex, nerve, nerve_update
from minignn.painn import PaiNN
from minignn.plan import AggregationPlan
from minignn.pooling import global_pool, mean_pool, sum_pool
from minignn.radial import BesselBasis, GaussianBasis, cosine_cutoff, polynomial_cutoff
from minignn.scatter import (bag_sum, check_index, check_mean_dtype, check_reduce, choose_backend, csr_rows,
                             has_torch_scatter, index_dtype, is_sorted, scatter, scatter_softmax, scatter_unchecked,
                             segment_sum)
from minignn.spherical import (degree_slice, estimate_wigner_D, estimate_wigner_D_blocks, lm_index, multipole_moments,
                               num_harmonics, power_spectrum, privileged_component, spherical_harmonics)

L = torch.long
NAN = float("nan")
E3 = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # the path 0 - 1 - 2, both directions
X3 = torch.randn(3, 4)
POS3 = torch.tensor([[0.0, 0, 0], [1.1, 0, 0], [1.1, 1.2, 0]])
NO_EDGES = torch.empty(2, 0, dtype=L)
G3 = Graph(edge_index=E3, x=X3)
TRIANGLE = torch.tensor([[0, 1, 2, 1, 2, 0], [1, 2, 0, 0, 1, 2]])
NERVE = nerve(clique_complex(TRIANGLE, 3))
BIG = 2**31  # node ids whose sort key src * N + dst overflows int64 when N = 2^33


def _new_triangles_in_order():
    """Two triangles, one on node ids past 2^21, where (a N + b) N + c overflows int64: lexicographic order kept."""
    n = 3_000_000
    hi = [n - 10, n - 5, n - 1]
    src = torch.tensor([hi[0], hi[1], hi[0], 0, 1, 0])
    dst = torch.tensor([hi[1], hi[2], hi[2], 1, 2, 2])
    return triangle_faces(torch.stack([src, dst]), n)


CASES = [
    # -- minignn.checks: the shared validators of plain arguments -------------------------------------------------
    bad(checks.check_int, "size", "n", lambda: checks.check_int(2.5, "n"), r"integer .* got 2\.5 \(float\)"),
    bad(checks.check_int, "size", "n", lambda: checks.check_int(-1, "n"), ">= 0"),
    bad(checks.check_int, "dtype", "n", lambda: checks.check_int(True, "n")),
    bad(checks.check_int, "dtype", "n", lambda: checks.check_int(torch.tensor(2.0), "n"), "float32 tensor"),
    good(checks.check_int, "valid", lambda: (checks.check_int(np.int64(3), "n"), checks.check_int(torch.tensor(3), "n")),
         lambda r: r == (3, 3) and all(type(v) is int for v in r)),
    bad(checks.check_number, "nan", "lr", lambda: checks.check_number(NAN, "lr")),
    bad(checks.check_number, "range", "lr", lambda: checks.check_number(0.0, "lr", minimum=0, strict_minimum=True), "> 0"),
    bad(checks.check_number, "dtype", "lr", lambda: checks.check_number("0.1", "lr")),
    bad(checks.check_bool, "dtype", "flag", lambda: checks.check_bool("false", "flag"), "True or False"),
    good(checks.describe, "valid", lambda: checks.describe(torch.zeros(2, dtype=torch.float64)),
         lambda r: r == "a float64 tensor of shape [2]"),
    # -- minignn.scatter ---------------------------------------------------------------------------------------------
    bad(scatter, "size", "dim_size", lambda: scatter(torch.ones(3), torch.tensor([0, 1, 1]), dim_size=2.7)),
    bad(scatter, "size", "dim_size", lambda: scatter(torch.ones(3), torch.tensor([0, 1, 1]), dim_size=-1), ">= 0"),
    bad(scatter, "dtype", "index", lambda: scatter(torch.ones(3), torch.tensor([0.0, 1.0, 1.0])), "integer dtype"),
    bad(scatter, "shape", "index", lambda: scatter(torch.ones(3), torch.zeros(1, 3, dtype=L)), "1-D"),
    bad(scatter, "range", "index", lambda: scatter(torch.ones(2), torch.tensor([0, -1])), "non-negative"),
    bad(scatter, "option", "reduce", lambda: scatter(torch.ones(2), torch.tensor([0, 1]), reduce="avg")),
    bad(scatter, "dtype", "src", lambda: scatter(torch.ones(2, dtype=L), torch.tensor([0, 1]), reduce="mean")),
    bad(scatter, "size", "dim", lambda: scatter(torch.ones(2), torch.tensor([0, 1]), dim=0.5)),
    good(scatter, "empty", lambda: scatter(torch.zeros(0, 2), torch.zeros(0, dtype=L), dim_size=3),
         lambda r: r.shape == (3, 2) and not r.any()),
    good(scatter, "valid", lambda: scatter(torch.ones(2), torch.tensor([0, 0]), dim_size=np.int64(3)),
         lambda r: r.tolist() == [2.0, 0.0, 0.0]),
    bad(scatter_softmax, "dtype", "src", lambda: scatter_softmax(torch.ones(2, dtype=L), torch.tensor([0, 0]))),
    good(scatter_softmax, "empty", lambda: scatter_softmax(torch.zeros(0), torch.zeros(0, dtype=L)),
         lambda r: r.shape == (0,)),
    good(has_torch_scatter, "file", with_env(has_torch_scatter, MINIGNN_NO_TORCH_SCATTER="1"), lambda r: r is False),
    bad(choose_backend, "option", "backend", lambda: choose_backend("sum", "cuda")),
    bad(check_index, "size", "dim_size", lambda: check_index(torch.tensor([0, 1]), 2, 1.5)),
    bad(check_reduce, "option", "reduce", lambda: check_reduce("prod")),
    bad(check_mean_dtype, "dtype", "src", lambda: check_mean_dtype(torch.ones(2, dtype=torch.int32), "mean")),
    bad(is_sorted, "shape", "index", lambda: is_sorted(torch.zeros(2, 2, dtype=L))),
    good(is_sorted, "empty", lambda: is_sorted(torch.zeros(0, dtype=L)), lambda r: r is True),
    good(bag_sum, "empty", lambda: bag_sum(torch.ones(3, 2), torch.zeros(0, dtype=L), torch.zeros(3, dtype=L)),
         lambda r: r.shape == (2, 2) and not r.any()),
    good(csr_rows, "empty", lambda: csr_rows(torch.zeros(0, dtype=L), 2),
         lambda r: r[0].numel() == 0 and r[1].tolist() == [0, 0, 0] and r[2].tolist() == [0, 0]),
    good(segment_sum, "empty",
         lambda: segment_sum(torch.zeros(0, 2), *csr_rows(torch.zeros(0, dtype=L), 2)[:2], torch.zeros(0, dtype=L)),
         lambda r: r.shape == (2, 2) and not r.any()),
    bad(index_dtype, "size", "num", lambda: index_dtype(-1)),
    good(index_dtype, "valid", lambda: index_dtype(np.int64(2**31)), lambda r: r == torch.long),
    good(scatter_unchecked, "empty", lambda: scatter_unchecked(torch.zeros(0, 2), torch.zeros(0, dtype=L), 0, 2, "max"),
         lambda r: r.shape == (2, 2) and not r.any()),
    # -- minignn.plan ------------------------------------------------------------------------------------------------
    bad(AggregationPlan, "size", "num_nodes", lambda: AggregationPlan.from_edge_index(E3, 2.5)),
    bad(AggregationPlan, "range", "edge_index[0] (src)", lambda: AggregationPlan.from_edge_index(E3, 2), "num_nodes"),
    bad(AggregationPlan, "option", "reduce", lambda: AggregationPlan.from_edge_index(E3, 3).aggregate(torch.ones(4), "avg")),
    bad(AggregationPlan, "shape", "messages", lambda: AggregationPlan.from_edge_index(E3, 3).aggregate(torch.ones(3))),
    bad(AggregationPlan, "option", "side", lambda: AggregationPlan.from_edge_index(E3, 3).gather(X3, side="both")),
    bad(AggregationPlan, "shape", "edge_weight",
        lambda: AggregationPlan.from_edge_index(E3, 3).propagate(X3, edge_weight=torch.ones(3))),
    bad(AggregationPlan, "dtype", "x", lambda: AggregationPlan.from_edge_index(E3, 3).propagate(torch.ones(3, 2, dtype=L),
                                                                                                reduce="mean")),
    # -- minignn.graph -----------------------------------------------------------------------------------------------
    bad(Graph, "size", "num_nodes", lambda: Graph(edge_index=NO_EDGES, num_nodes=2.5)),
    bad(Graph, "size", "num_nodes", lambda: Graph(edge_index=NO_EDGES, num_nodes=-1), ">= 0"),
    good(Graph, "valid", lambda: Graph(edge_index=NO_EDGES, num_nodes=np.int64(4)).num_nodes, lambda r: r == 4),
    bad(Graph, "shape", "pos", lambda: Graph(edge_index=E3, pos=torch.zeros(3, 2))),
    bad(Graph, "nan", "x", lambda: Graph(edge_index=E3, x=torch.tensor([[0.0], [NAN], [1.0]])), "finite"),
    bad(Graph, "dtype", "edge_index", lambda: Graph(edge_index=E3.int(), x=X3), "int64"),
    bad(Graph, "range", "edge_index", lambda: Graph(edge_index=E3, num_nodes=2), "2 nodes"),
    bad(Graph, "dtype", "batch", lambda: Graph(edge_index=E3, x=X3, batch=[0, 0, 0])),
    bad(batch, "empty", "batch()", lambda: batch([])),
    bad(batch, "dtype", "graphs[1]", lambda: batch([G3, X3])),
    bad(unbatch, "dtype", "g", lambda: unbatch(X3)),
    bad(unbatch, "shape", "num_nodes_per_graph", lambda: unbatch(G3)),
    bad(to_undirected, "shape", "edge_attr", lambda: to_undirected(E3, 3, torch.ones(3, 1))),
    bad(to_undirected, "size", "num_nodes", lambda: to_undirected(E3, 3.5)),
    bad(add_self_loops, "nan", "fill_value", lambda: add_self_loops(E3, 3, torch.ones(4, 1), fill_value=NAN)),
    bad(add_remaining_self_loops, "size", "num_nodes", lambda: add_remaining_self_loops(E3, 2.5)),
    bad(add_remaining_self_loops, "dtype", "edge_weight", lambda: add_remaining_self_loops(E3, 3, torch.ones(4, dtype=L))),
    bad(remove_self_loops, "shape", "edge_attr", lambda: remove_self_loops(E3, torch.ones(5))),
    bad(degree, "size", "num_nodes", lambda: degree(E3[1], 2.5)),
    bad(degree, "shape", "edge_weight", lambda: degree(E3[1], 3, torch.ones(3))),
    bad(degree, "dtype", "index", lambda: degree(E3[1].float(), 3)),
    bad(from_networkx, "dtype", "G", lambda: from_networkx([(0, 1)])),
    bad(from_networkx, "shape", "attribute 'w'", lambda: from_networkx(nx.path_graph(3), node_attrs=["w"])),
    bad(to_networkx, "dtype", "g", lambda: to_networkx(E3)),
    bad(from_dense, "shape", "adjacency", lambda: from_dense(torch.ones(2, 3))),
    bad(from_dense, "nan", "adjacency", lambda: from_dense(torch.tensor([[0.0, NAN], [1.0, 0.0]]))),
    bad(to_dense, "shape", "edge_weight", lambda: to_dense(E3, 3, torch.ones(2))),
    bad(to_dense, "size", "num_nodes", lambda: to_dense(E3, 3.0)),
    good(coalesce, "range", lambda: coalesce(torch.tensor([[BIG, 0, BIG], [5, 5, 5]]), 2**33)[0],
         lambda r: r.tolist() == [[0, BIG], [5, 5]]),  # src * N + dst would overflow and merge them
    bad(coalesce, "shape", "edge_attr", lambda: coalesce(E3, 3, torch.ones(2))),
    bad(check_edge_index, "dtype", "edge_index", lambda: check_edge_index(E3.float())),
    bad(check_edge_index, "shape", "edge_index", lambda: check_edge_index(torch.zeros(3, 2, dtype=L))),
    bad(check_edge_index, "range", "edge_index", lambda: check_edge_index(E3, 2)),
    bad(check_edge_index, "size", "num_nodes", lambda: check_edge_index(E3, 2.5)),
    bad(call_model, "dtype", "g", lambda: call_model(PaiNN(num_types=2, width=4, layers=1), (X3, E3))),
    bad(call_model, "shape", "pos", lambda: call_model(PaiNN(num_types=2, width=4, layers=1),
                                                       Graph(edge_index=E3, x=torch.zeros(3, dtype=L)))),
    # -- minignn.pooling ---------------------------------------------------------------------------------------------
    bad(global_pool, "range", "num_graphs", lambda: global_pool(X3, torch.tensor([0, 1, 2]), num_graphs=1),
        "pass a larger num_graphs"),
    bad(global_pool, "shape", "batch", lambda: global_pool(X3, torch.tensor([0, 1]))),
    bad(global_pool, "option", "reduce", lambda: global_pool(X3, reduce="median")),
    bad(global_pool, "dtype", "x", lambda: global_pool(torch.ones(3, 2, dtype=L), reduce="mean")),
    bad(global_pool, "dtype", "x", lambda: global_pool([1.0, 2.0])),
    bad(sum_pool, "size", "num_graphs", lambda: sum_pool(X3, torch.zeros(3, dtype=L), num_graphs=1.5)),
    bad(mean_pool, "dtype", "x", lambda: mean_pool(torch.ones(3, 2, dtype=L))),
    good(mean_pool, "empty", lambda: mean_pool(torch.zeros(0, 2), torch.zeros(0, dtype=L), num_graphs=2),
         lambda r: r.shape == (2, 2) and not r.any()),
    # -- minignn.geometry --------------------------------------------------------------------------------------------
    bad(random_rotation, "size", "num", lambda: random_rotation(num=-1)),
    bad(random_reflection, "size", "num", lambda: random_reflection(num=2.5)),
    bad(random_translation, "nan", "scale", lambda: random_translation(scale=NAN)),
    bad(rotation_about_axis, "range", "axis", lambda: rotation_about_axis([0, 0, 0], 1.0), "not all zero"),
    bad(rotation_about_axis, "nan", "angle", lambda: rotation_about_axis([0, 0, 1], NAN)),
    bad(apply_transform, "shape", "R", lambda: apply_transform(POS3, torch.eye(2))),
    bad(apply_transform, "dtype", "pos", lambda: apply_transform(torch.zeros(3, 3, dtype=L))),
    bad(center, "range", "num_graphs", lambda: center(POS3, torch.tensor([0, 0, 1]), num_graphs=1),
        "pass a larger num_graphs"),
    bad(center, "shape", "batch", lambda: center(POS3, torch.tensor([0, 1]))),
    bad(check_pos, "nan", "pos", lambda: check_pos(torch.tensor([[0.0, NAN, 0.0]])), "finite"),
    bad(check_pos, "shape", "pos", lambda: check_pos(torch.zeros(3, 2))),
    bad(check_pos, "dtype", "pos", lambda: check_pos(torch.zeros(3, 3, dtype=L))),
    bad(check_pos, "range", "pos", lambda: check_pos(POS3, num_nodes=4), "4 nodes"),
    # -- minignn.neighbours ------------------------------------------------------------------------------------------
    bad(radius_graph, "range", "cutoff", lambda: radius_graph(POS3, -1.0)),
    bad(radius_graph, "nan", "cutoff", lambda: radius_graph(POS3, NAN)),
    bad(radius_graph, "nan", "pos", lambda: radius_graph(torch.tensor([[NAN, 0.0, 0.0]]), 1.0)),
    bad(radius_graph, "dtype", "batch", lambda: radius_graph(POS3, 2.0, batch=torch.zeros(3))),
    bad(radius_graph, "range", "cell", lambda: radius_graph(POS3, 2.0, cell=torch.zeros(3, 3)), "singular"),
    bad(radius_graph, "dtype", "self_loops", lambda: radius_graph(POS3, 2.0, self_loops="yes")),
    good(fully_connected, "valid", lambda: fully_connected(np.int64(3)), lambda r: r.shape == (2, 6)),
    good(fully_connected, "valid", lambda: fully_connected(torch.tensor(2)), lambda r: r.tolist() == [[0, 1], [1, 0]]),
    bad(fully_connected, "size", "num_nodes", lambda: fully_connected(2.5)),
    bad(fully_connected, "size", "num_nodes", lambda: fully_connected([3, -1]), ">= 0"),
    good(fully_connected, "empty", lambda: fully_connected(0), lambda r: r.shape == (2, 0)),
    # -- minignn.laplacian -------------------------------------------------------------------------------------------
    bad(differential, "range", "edge_weight", lambda: differential(X3, E3, torch.tensor([1.0, -1.0, 1.0, 1.0]))),
    bad(differential, "dtype", "x", lambda: differential([1.0, 2.0], E3)),
    bad(codifferential, "shape", "v", lambda: codifferential(torch.ones(3), E3, 3)),
    bad(codifferential, "size", "num_nodes", lambda: codifferential(torch.ones(4), E3, 2.5)),
    bad(Laplacian, "option", "normalization", lambda: Laplacian(E3, 3, normalization="random_walk")),
    bad(Laplacian, "shape", "x", lambda: Laplacian(E3, 3)(torch.ones(2, 1))),
    good(Laplacian, "valid", lambda: Laplacian(E3, np.int64(3))(torch.ones(3, 1)), lambda r: r.abs().max() < 1e-6),
    bad(laplacian_matrix, "option", "normalization", lambda: laplacian_matrix(E3, 3, normalization="lap")),
    bad(dense_laplacian, "nan", "adjacency", lambda: dense_laplacian(torch.tensor([[0.0, NAN], [1.0, 0.0]]))),
    bad(dense_laplacian, "range", "adjacency", lambda: dense_laplacian(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))),
    bad(polynomial_filter, "empty", "coeffs", lambda: polynomial_filter(X3, Laplacian(E3, 3), [])),
    bad(polynomial_filter, "option", "L", lambda: polynomial_filter(X3, "sym", [1.0, 2.0])),
    bad(chebyshev_filter, "range", "lambda_max", lambda: chebyshev_filter(X3, Laplacian(E3, 3), [1.0], lambda_max=0)),
    bad(gcn_norm, "nan", "edge_weight", lambda: gcn_norm(E3, 3, torch.tensor([1.0, NAN, 1.0, 1.0]))),
    bad(gcn_norm, "dtype", "dtype", lambda: gcn_norm(E3, 3, dtype=torch.int64)),
    bad(GCNConv, "shape", "x", lambda: GCNConv(4, 2)(torch.ones(3, 5), E3)),
    bad(GCNConv, "dtype", "x", lambda: GCNConv(4, 2)(X3.double(), E3), "weights"),
    bad(GCNConv, "device", "x", lambda: GCNConv(4, 2)(X3.to("meta"), E3), "device"),
    bad(GCNConv, "size", "in_dim", lambda: GCNConv(2.5, 2)),
    bad(PolynomialFilter, "size", "degree", lambda: PolynomialFilter(4, 2, degree=-1)),
    bad(PolynomialFilter, "dtype", "x", lambda: PolynomialFilter(4, 2, degree=1)(X3.double(), E3)),
    bad(ChebConv, "nan", "lambda_max", lambda: ChebConv(4, 2, degree=2, lambda_max=NAN)),
    bad(ChebConv, "shape", "x", lambda: ChebConv(4, 2, degree=2)(torch.ones(3, 3), E3), "in_dim=4"),
    bad(ChebConv, "device", "x", lambda: ChebConv(4, 2, degree=1)(X3.to("meta"), E3), "device"),
    # -- minignn.hypergraph and minignn.invariants -------------------------------------------------------------------
    bad(HyperGraph, "size", "num_nodes", lambda: HyperGraph(2.5)),
    bad(HyperGraph, "range", "faces[1]", lambda: HyperGraph(3, {1: torch.tensor([[0, 3]])}), "missing vertices"),
    bad(HyperGraph, "shape", "features[1]", lambda: HyperGraph(3, {1: torch.tensor([[0, 1]])}, {1: torch.ones(2)})),
    bad(HyperGraph, "shape", "pos", lambda: HyperGraph(3, {1: torch.tensor([[0, 1]])}).invariants(torch.zeros(2, 3))),
    good(HyperGraph, "valid", lambda: HyperGraph(np.int64(3)).num_nodes, lambda r: r == 3 and type(r) is int),
    bad(path_faces, "size", "length", lambda: path_faces(E3, 3, 0), ">= 1"),
    bad(path_faces, "size", "length", lambda: path_faces(E3, 3, 1.5)),
    bad(angle_faces, "size", "num_nodes", lambda: angle_faces(E3, -1)),
    bad(torsion_faces, "dtype", "edge_index", lambda: torsion_faces(E3.float(), 3)),
    good(triangle_faces, "range", _new_triangles_in_order,
         lambda r: r.tolist() == [[0, 1, 2], [3_000_000 - 10, 3_000_000 - 5, 3_000_000 - 1]]),
    good(triangle_faces, "empty", lambda: triangle_faces(NO_EDGES, 0), lambda r: r.shape == (0, 3)),
    good(edge_lengths, "coincident", lambda: edge_lengths(torch.zeros(2, 3), torch.tensor([[0], [1]])),
         lambda r: r.tolist() == [0.0]),
    bad(edge_lengths, "nan", "pos", lambda: edge_lengths(torch.tensor([[0.0, 0, 0], [NAN, 0, 0]]), torch.tensor([[0], [1]]))),
    bad(edge_vectors, "range", "edge_index", lambda: edge_vectors(POS3, torch.tensor([[0], [3]]))),
    good(angles, "coincident", lambda: angles(torch.zeros(3, 3), torch.tensor([[0, 1, 2]])), finite),
    bad(angles, "shape", "faces", lambda: angles(POS3, torch.tensor([[0, 1]]))),
    good(triangle_areas, "coincident", lambda: triangle_areas(torch.zeros(3, 3), torch.tensor([[0, 1, 2]])),
         lambda r: r.tolist() == [0.0]),
    good(torsions, "coincident", lambda: torsions(torch.zeros(4, 3), torch.tensor([[0, 1, 2, 3]])), finite),
    bad(tetrahedron_volumes, "range", "faces", lambda: tetrahedron_volumes(POS3, torch.tensor([[0, 1, 2, 3]])),
        "missing vertices"),
    bad(zmatrix_to_positions, "range", "lengths",
        lambda: zmatrix_to_positions(torch.tensor([[-1, -1, -1], [0, -1, -1]]), torch.tensor([0.0, 0.0]),
                                     torch.zeros(2), torch.zeros(2)), "> 0"),
    bad(zmatrix_to_positions, "range", "refs",
        lambda: zmatrix_to_positions(torch.tensor([[-1, -1, -1], [0, -1, -1], [1, 0, -1], [2, 1, 0]]),
                                     torch.tensor([0.0, 1.0, 1.0, 1.0]), torch.tensor([0.0, 0.0, math.pi, 2.0]),
                                     torch.zeros(4)), "collinear"),
    bad(zmatrix_to_positions, "dtype", "refs",
        lambda: zmatrix_to_positions(torch.zeros(2, 3), torch.ones(2), torch.zeros(2), torch.zeros(2))),
    bad(zmatrix_to_positions, "nan", "angles",
        lambda: zmatrix_to_positions(torch.tensor([[-1, -1, -1], [0, -1, -1]]), torch.ones(2), torch.tensor([0.0, NAN]),
                                     torch.zeros(2))),
    bad(face_corners, "size", "width", lambda: face_corners(POS3, torch.tensor([[0, 1]]), 2.5)),
    # -- minignn.nerve -----------------------------------------------------------------------------------------------
    bad(Nerve, "size", "k", lambda: NERVE.chains(-1), ">= 0"),
    bad(Nerve, "size", "k", lambda: NERVE.chains(1.5)),
    bad(Nerve, "dtype", "batch", lambda: NERVE.face_batch(torch.zeros(3))),
    bad(clique_complex, "option", "max_level", lambda: clique_complex(TRIANGLE, 3, max_level=3)),
    bad(nerve, "range", "faces[1]", lambda: nerve([torch.arange(3)[:, None], torch.tensor([[0, 0]])]), "repeated vertex"),
    bad(nerve, "empty", "faces[0]", lambda: nerve([])),
    bad(nerve_update, "range", "edge_index", lambda: nerve_update(torch.ones(NERVE.edge_index.shape[1], 2),
                                                                  NERVE.edge_index, 3)),
    bad(nerve_update, "size", "num_faces", lambda: nerve_update(torch.ones(1, 2), torch.tensor([[1], [0]]), 2.5)),
    bad(NerveLayer, "shape", "edge_attr", lambda: NerveLayer(2)(torch.ones(7, 2), NERVE.edge_index, torch.ones(9, 1))),
    bad(NerveLayer, "dtype", "x", lambda: NerveLayer(2)(torch.ones(7, 2, dtype=torch.float64), NERVE.edge_index)),
    bad(NerveLayer, "shape", "x", lambda: NerveLayer(2)(torch.ones(7, 3), NERVE.edge_index)),
    bad(NerveLayer, "size", "width", lambda: NerveLayer(0)),
    bad(NerveNetwork, "dtype", "in_dims", lambda: NerveNetwork("12", 1)),
    bad(NerveNetwork, "size", "layers", lambda: NerveNetwork([1, 0, 0], 1, layers=-1)),
    bad(NerveNetwork, "dtype", "nerve", lambda: NerveNetwork([1, 0], 1)([torch.ones(3, 1), torch.ones(3, 0)], TRIANGLE)),
    bad(NerveNetwork, "dtype", "features[0]", lambda: NerveNetwork([1, 0, 0], 1)(
        [torch.ones(3, 1, dtype=torch.float64), torch.ones(3, 0), torch.ones(1, 0)], NERVE)),
    # -- minignn.spherical -------------------------------------------------------------------------------------------
    bad(num_harmonics, "size", "l_max", lambda: num_harmonics(-1)),
    bad(lm_index, "size", "l", lambda: lm_index(1.5, 0)),
    bad(lm_index, "range", "m", lambda: lm_index(1, 2), "-l <= m <= l"),
    bad(degree_slice, "size", "l", lambda: degree_slice(-1)),
    bad(spherical_harmonics, "dtype", "vectors", lambda: spherical_harmonics(1, torch.zeros(2, 3, dtype=L))),
    bad(spherical_harmonics, "option", "normalization", lambda: spherical_harmonics(1, POS3, normalization="schmidt")),
    good(spherical_harmonics, "valid", lambda: spherical_harmonics(np.int64(2), POS3), lambda r: r.shape == (3, 9)),
    good(spherical_harmonics, "coincident", lambda: spherical_harmonics(3, torch.zeros(2, 3)), finite),
    bad(estimate_wigner_D, "nan", "R", lambda: estimate_wigner_D(1, torch.full((3, 3), NAN))),
    bad(estimate_wigner_D, "size", "num_samples", lambda: estimate_wigner_D(1, torch.eye(3), num_samples=2.5)),
    bad(estimate_wigner_D_blocks, "size", "l_max", lambda: estimate_wigner_D_blocks(-1, torch.eye(3))),
    bad(multipole_moments, "shape", "weights", lambda: multipole_moments(POS3, 2, weights=torch.ones(2))),
    bad(multipole_moments, "dtype", "pos", lambda: multipole_moments(torch.zeros(3, 3, dtype=L), 2)),
    bad(power_spectrum, "shape", "coefficients", lambda: power_spectrum(torch.ones(5), 1)),
    bad(privileged_component, "range", "m", lambda: privileged_component(POS3, l=1, m=2)),
    # -- minignn.radial ----------------------------------------------------------------------------------------------
    bad(cosine_cutoff, "nan", "distances", lambda: cosine_cutoff(torch.tensor([1.0, NAN]), 5.0)),  # was 0
    bad(cosine_cutoff, "range", "distances", lambda: cosine_cutoff(torch.tensor([-1.0]), 5.0)),
    bad(cosine_cutoff, "range", "cutoff", lambda: cosine_cutoff(torch.tensor([1.0]), 0.0)),
    bad(cosine_cutoff, "dtype", "distances", lambda: cosine_cutoff(torch.tensor([1, 2]), 5.0)),
    bad(polynomial_cutoff, "nan", "distances", lambda: polynomial_cutoff(torch.tensor([NAN]), 5.0)),
    bad(polynomial_cutoff, "size", "p", lambda: polynomial_cutoff(torch.tensor([1.0]), 5.0, p=2.5)),
    good(polynomial_cutoff, "range", lambda: polynomial_cutoff(torch.tensor([5.0, float("inf")]), 5.0),
         lambda r: r.tolist() == [0.0, 0.0]),  # at and beyond the cutoff: 0, a correct value
    bad(GaussianBasis, "size", "num_basis", lambda: GaussianBasis(0)),
    bad(GaussianBasis, "option", "envelope", lambda: GaussianBasis(4, envelope="gaussian")),
    bad(GaussianBasis, "nan", "distances", lambda: GaussianBasis(4)(torch.tensor([NAN]))),
    bad(BesselBasis, "nan", "cutoff", lambda: BesselBasis(4, cutoff=float("inf"))),
    bad(BesselBasis, "shape", "distances", lambda: BesselBasis(4)(torch.ones(2, 2))),
    good(BesselBasis, "coincident", lambda: BesselBasis(4)(torch.zeros(3)), finite),
    good(BesselBasis, "valid", lambda: BesselBasis(np.int64(3), cutoff=np.float32(4.0))(torch.ones(2)),
         lambda r: r.shape == (2, 3) and finite(r)),
    # -- minignn.testing ---------------------------------------------------------------------------------------------
    bad(testing.relative_error, "shape", "shapes", lambda: testing.relative_error(torch.ones(2), torch.ones(3))),
    bad(testing.relative_error, "dtype", "actual", lambda: testing.relative_error([1.0], torch.ones(1))),
    good(testing.relative_error, "nan", lambda: testing.relative_error(torch.tensor([NAN]), torch.tensor([1.0])),
         lambda r: r == float("inf")),
    bad(testing.default_tolerance, "dtype", "dtype", lambda: testing.default_tolerance(torch.int64)),
    bad(testing.random_permutation, "size", "n", lambda: testing.random_permutation(-1)),
    bad(testing.random_permutation, "size", "n", lambda: testing.random_permutation(2.5)),
    bad(testing.permute_nodes, "range", "perm", lambda: testing.permute_nodes(torch.tensor([0, 0, 1]), X3)),
    bad(testing.permute_nodes, "dtype", "perm", lambda: testing.permute_nodes([0, 1, 2], X3)),
    bad(testing.check_permutation, "empty", "x or pos", lambda: testing.check_permutation(torch.sin, None)),
    bad(testing.check_permutation, "option", "fn", lambda: testing.check_permutation("mpnn", X3)),
    bad(testing.check_euclidean, "nan", "pos", lambda: testing.check_euclidean(torch.sin, None,
                                                                               torch.tensor([[NAN, 0.0, 0.0]]))),
    bad(testing.check_euclidean, "size", "trials", lambda: testing.check_euclidean(torch.sin, None, POS3, trials=0)),
    bad(testing.check_euclidean, "option", "transforms",
        lambda: testing.check_euclidean(torch.sin, None, POS3, transforms=("shear",))),
    bad(testing.check_euclidean, "option", "output kind",
        lambda: testing.check_euclidean(torch.sin, None, POS3, outputs=("scalar",))),
    bad(testing.assert_euclidean, "shape", "x", lambda: testing.assert_euclidean(torch.sin, X3[:2], POS3)),
    bad(testing.assert_permutation, "option", "output level",
        lambda: testing.assert_permutation(torch.sin, X3, output="atoms")),
    good(testing.SymmetryReport, "empty", lambda: repr(testing.SymmetryReport()), lambda r: "transformation" in r),
    bad(testing.random_molecule, "size", "num_nodes", lambda: testing.random_molecule(-1)),
    bad(testing.random_molecule, "size", "num_features", lambda: testing.random_molecule(3, 0)),
    bad(testing.random_molecule, "nan", "min_distance", lambda: testing.random_molecule(3, min_distance=NAN)),
    bad(testing.call, "option", "fn", lambda: testing.call("model", X3, None, E3)),
    # -- minignn.units -----------------------------------------------------------------------------------------------
    bad(units.convert, "option", "unit", lambda: units.convert(1.0, "eV", "kJ/mol"), "unknown unit"),
    bad(units.convert, "option", "length", lambda: units.convert(1.0, "bohr", "eV")),
    bad(units.convert, "dtype", "value", lambda: units.convert("1.0", "eV", "hartree")),
    good(units.bohr_to_angstrom, "valid", lambda: units.bohr_to_angstrom(np.int64(2)),
         lambda r: r == 2 * units.BOHR_IN_ANGSTROM),
    good(units.angstrom_to_bohr, "valid", lambda: units.angstrom_to_bohr(torch.tensor([1.0], dtype=torch.float64)),
         lambda r: r.dtype == torch.float64 and abs(float(r) - 1 / units.BOHR_IN_ANGSTROM) < 1e-12),
    good(units.hartree_to_ev, "valid", lambda: units.hartree_to_ev(np.arange(2)),
         lambda r: r.tolist() == [0.0, units.HARTREE_IN_EV]),
    good(units.ev_to_hartree, "nan", lambda: units.ev_to_hartree(torch.tensor([NAN])), lambda r: bool(r.isnan().all())),
    good(units.hartree_to_kcal_per_mol, "valid", lambda: units.hartree_to_kcal_per_mol(torch.tensor(1)),
         lambda r: abs(float(r) - units.HARTREE_IN_KCAL_PER_MOL) < 1e-3),
    good(units.kcal_per_mol_to_hartree, "empty", lambda: units.kcal_per_mol_to_hartree(torch.zeros(0)),
         lambda r: r.shape == (0,)),
    good(units.ev_to_kcal_per_mol, "valid", lambda: units.ev_to_kcal_per_mol(1), lambda r: r == units.EV_IN_KCAL_PER_MOL),
    good(units.kcal_per_mol_to_ev, "valid", lambda: units.kcal_per_mol_to_ev(np.float32(0)), lambda r: r == 0),
    # -- minignn.timing and minignn.results --------------------------------------------------------------------------
    bad(timing.min_time, "size", "repeats", lambda: timing.min_time({"a": lambda: None}, 0)),
    bad(timing.min_time, "dtype", "fns", lambda: timing.min_time([lambda: None], 1)),
    good(timing.min_time, "valid", lambda: timing.min_time({"a": lambda: None}, np.int64(2), np.float32(0.0)),
         lambda r: set(r) == {"a"} and r["a"] >= 0),
    bad(timing.min_time, "option", "fns['a']", lambda: timing.min_time({"a": 3}, 1)),
    bad(timing.copy_bandwidth, "size", "nbytes", lambda: timing.copy_bandwidth(2)),
    bad(timing.copy_bandwidth, "size", "nbytes", lambda: timing.copy_bandwidth(1024.5)),
    bad(timing.random_graph, "size", "num_nodes", lambda: timing.random_graph(0, 3)),
    bad(timing.random_graph, "size", "num_edges", lambda: timing.random_graph(3, 2.5)),
    bad(timing.aggregation_sweep, "empty", "edge_counts", lambda: timing.aggregation_sweep(edge_counts=())),
    bad(timing.aggregation_sweep, "size", "edge_counts", lambda: timing.aggregation_sweep(edge_counts=(100.5,))),
    bad(timing.read_aggregation_results, "file", "does not exist",
        lambda tmp: timing.read_aggregation_results(tmp / "RESULTS.md"), exc=FileNotFoundError),
    bad(results.read_section, "file", "no aggregation section",
        lambda tmp: (tmp / "R.md").write_text("# Benchmark results\n") and results.read_section("aggregation", tmp / "R.md")),
    bad(results.read_section, "option", "section name", lambda tmp: results.read_section("a b", tmp / "R.md")),
    bad(results.write_section, "option", "section name", lambda tmp: results.write_section("../x", "text", tmp / "R.md")),
    bad(results.upsert_row, "shape", "row", lambda tmp: results.upsert_row("s", "", ["a", "b"], {"a": 1}, "a", tmp / "R.md")),
    good(results.section_fields, "empty", lambda: results.section_fields(""), lambda r: r == {}),
    bad(results.section_table, "empty", "markdown table", lambda: results.section_table("- date: today\n")),
    bad(results.section_table, "shape", "table row", lambda: results.section_table("| a | b |\n| --- | --- |\n| 1 |\n")),
    good(results.results_path, "file", results.results_path, lambda r: r.name in ("RESULTS.md", "benchmark_results.md")),
    good(results.machine, "valid", results.machine, lambda r: {"cpu", "cores", "torch", "load"} <= set(r)),
    good(results.cpu_model, "valid", results.cpu_model, lambda r: isinstance(r, str) and r != ""),
]

# -- the meta-tests -----------------------------------------------------------------------------------------------

#: Public names that are constants (tables, tuples of names, numbers, paths), not functions: they take no input.
EXEMPT = {
    "minignn.trainings.COMMANDS": "the table of commands of python -m minignn.train (a constant)",
    "minignn.doctor.PACKAGES": "the table of packages the setup check imports (a constant)",
    "minignn.doctor.STATUSES": "the statuses of a setup check (a constant)",
    "minignn.bond_tables.SINGLE": "a table of bond lengths (a constant)",
    "minignn.bond_tables.DOUBLE": "a table of bond lengths (a constant)",
    "minignn.bond_tables.TRIPLE": "a table of bond lengths (a constant)",
    "minignn.bond_tables.MARGINS_PM": "a tuple of margins (a constant)",
    "minignn.bond_tables.ALLOWED_VALENCES": "a table of valences (a constant)",
    "minignn.bond_tables.CHARGED_VALENCES": "a table of valences (a constant)",
    "minignn.bond_tables.CHARGES": "a tuple of formal charges (a constant)",
    "minignn.bond_tables.PM_IN_ANGSTROM": "a unit constant",
    "minignn.checkpoint.CHECKPOINT_DIR": "a path (a constant)",
    "minignn.checkpoint.TRAIN_FORMAT": "a format tag (a constant)",
    "minignn.painn.PRETRAINED_MODELS": "the names of the models save_pretrained and load_pretrained handle (a constant)",
    "minignn.datasets.atoms.SYMBOLS": "a tuple of element symbols (a constant)",
    "minignn.datasets.atoms.MAX_ATOMIC_NUMBER": "a number (a constant)",
    "minignn.datasets.atoms.QM7_TYPES": "an AtomTypes instance; AtomTypes has its own cases",
    "minignn.datasets.atoms.QM9_TYPES": "an AtomTypes instance; AtomTypes has its own cases",
    "minignn.datasets.cache.NO_DOWNLOAD_ON": "a tuple of accepted values (a constant)",
    "minignn.datasets.cache.NO_DOWNLOAD_OFF": "a tuple of accepted values (a constant)",
    "minignn.datasets.qm7.QM7_URL": "a URL (a constant)",
    "minignn.datasets.qm7.QM7_MOLECULES": "a count (a constant)",
    "minignn.datasets.qm7.FOLD_RULES": "a tuple of option names (a constant)",
    "minignn.datasets.qm9.QM9_MOLECULES": "a count (a constant)",
    "minignn.datasets.qm9.TARGETS": "a table of target columns and units (a constant)",
    "minignn.datasets.qm9.ATOMREF": "a table of free-atom energies (a constant)",
    "minignn.diffusion.PREDICTIONS": "a tuple of option names (a constant)",
    "minignn.edm.SAMPLERS": "a table of sampler functions, each with its own cases",
    "minignn.edm.PUBLISHED_QM9": "a table of published numbers (a constant)",
    "minignn.edm.PUBLISHED_COMPUTE": "a table of published compute (a constant)",
    "minignn.metrics.XYZ_MAX_ITERATIONS": "a number (a constant)",
    "minignn.radial.ENVELOPES": "a table of the two envelope functions, each with its own cases",
    "minignn.scatter.REDUCES": "a tuple of option names (a constant)",
    "minignn.scatter.BACKENDS": "a tuple of option names (a constant)",
    "minignn.schedules.SCHEDULES": "a table of the schedule classes, each with its own cases",
    "minignn.schedules.RULES": "a tuple of option names (a constant)",
    "minignn.spherical.NORMALIZATIONS": "a tuple of option names (a constant)",
    "minignn.toy.TIME_EMBEDDINGS": "a tuple of option names (a constant)",
    "minignn.units.BOHR_IN_ANGSTROM": "a unit constant",
    "minignn.units.HARTREE_IN_EV": "a unit constant",
    "minignn.units.HARTREE_IN_KCAL_PER_MOL": "a unit constant",
    "minignn.units.EV_IN_KCAL_PER_MOL": "a unit constant",
    "minignn.units.LENGTH_UNITS": "a table of unit sizes (a constant)",
    "minignn.units.ENERGY_UNITS": "a table of unit sizes (a constant)",
}

ALL_CASES = CASES + test_bad_input_models.CASES + test_bad_input_data.CASES + test_bad_input_spherical.CASES


def public_names():
    """``{"module.name": object}`` for every name in the ``__all__`` of every module of minignn and minignn.datasets."""
    modules = ["minignn.datasets"] + [f"minignn.{m.name}" for m in pkgutil.iter_modules(minignn.__path__)]
    modules += [f"minignn.datasets.{m.name}" for m in pkgutil.iter_modules(minignn.datasets.__path__)]
    out = {}
    for name in modules:
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for public in module.__all__:
            out[f"{name}.{public}"] = getattr(module, public)
    return out


def exempt_objects() -> dict:
    """``{id(object): key}`` for the exempted constants (a re-export of one is the same object)."""
    out = {}
    for key in EXEMPT:
        module, name = key.rsplit(".", 1)
        out[id(getattr(importlib.import_module(module), name))] = key
    return out


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_bad_input(case, tmp_path):
    run_case(case, pytest, tmp_path)


def test_every_public_name_has_a_bad_input_case_or_a_documented_exemption():
    covered, exempt = {id(c.target) for c in ALL_CASES}, exempt_objects()
    missing, exempted = [], set()
    for name, obj in public_names().items():
        if id(obj) in covered:
            continue
        key = exempt.get(id(obj))
        if key is None:
            missing.append(name)
        else:
            assert not callable(obj), f"{key} is callable: give it cases, not an exemption"
            exempted.add(key)
    assert not missing, "public names without a bad-input case:\n" + "\n".join(sorted(missing))
    assert set(EXEMPT) == exempted, f"exemptions that are not public constants: {sorted(set(EXEMPT) - exempted)}"


def test_every_case_names_a_public_target_and_a_known_class():
    public = {id(obj) for obj in public_names().values()}
    for case in ALL_CASES:
        assert id(case.target) in public, f"{case.id}: its target is not a public name of minignn"
        assert case.kind in KINDS


def test_the_suite_covers_every_class_of_bad_input():
    counts = {k: sum(c.kind == k for c in ALL_CASES) for k in KINDS}
    assert all(counts.values()), counts
    assert len(ALL_CASES) >= 400, len(ALL_CASES)
