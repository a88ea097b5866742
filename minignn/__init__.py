"""minignn: the companion package of the book on message-passing neural networks.

Each module holds one idea of the book and is named after it; import them explicitly,
e.g. ``from minignn.graph import Graph``.

==================  ==========================================================
chapter             modules
==================  ==========================================================
Graphs              ``graph`` (Graph, batching), ``neighbours`` (radius graphs)
Hypergraphs         ``hypergraph`` (faces), ``invariants`` (lengths ... torsions)
Laplacian and GCN   ``laplacian`` (d, d*, L, polynomial filters, GCNConv)
MPNNs               ``mpnn`` (message, aggregate, update), ``pooling``, ``nerve``
Scatter             ``scatter``, ``plan`` (AggregationPlan: CSR aggregation)
Equivariance        ``geometry``, ``testing``, ``spherical``, ``radial``, ``equivariant``
Spherical networks  ``irreps`` (Irreps, Wigner D), ``clebsch_gordan``, ``tensor_product``, ``gate``, ``tfn``, ``mace``, ``body_order``
QM7                 ``datasets``, ``units``, ``viewer``, ``train``, ``baselines``, ``checkpoint``, ``painn``
Diffusion models    ``schedules``, ``diffusion``, ``toy``, ``edm``, ``metrics``, ``bond_tables``
All chapters        ``checks`` (plain arguments: sizes, counts, numbers and flags)
Beyond the laptop   ``trainings`` (``python -m minignn.train qm7`` / ``qm9-edm``: one GPU, torchrun)
==================  ==========================================================
"""

__version__ = "0.1.0"
