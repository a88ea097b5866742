"""minignn: the companion package of the book on message-passing neural networks.

Each module holds one idea of the book and is named after it: ``graph``,
``hypergraph``, ``laplacian``, ``scatter``, ``mpnn``, ``nerve``, ``geometry``,
``spherical``, ``equivariant``, ``testing``.  Import them explicitly, e.g.
``from minignn.graph import Graph``.
"""

__version__ = "0.1.0"
