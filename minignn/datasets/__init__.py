"""Molecular data sets as graphs: QM7 and QM9, atom types, molecule -> graph.

* :mod:`~minignn.datasets.atoms`: :class:`AtomTypes` (elements -> embedding rows), ``QM7_TYPES``, ``QM9_TYPES``.
* :mod:`~minignn.datasets.molecules`: :class:`Molecule`, :class:`MoleculeSet`, :func:`to_graph`,
  :func:`molecules_to_graphs`.
* :mod:`~minignn.datasets.qm7`: :func:`load_qm7` (``qm7.mat``: ``$MINIGNN_DATA``, cache, download).
* :mod:`~minignn.datasets.qm9`: :func:`load_qm9` (qm9pack's CSV files, parsed once into a cache).
* :mod:`~minignn.datasets.cache`: where files live, atomic writes.

Conventions: positions in Angstrom everywhere (QM7's Bohr converted on load); QM7
energies in kcal/mol; QM9 energies in Hartree as shipped, atomization energies in
eV or kcal/mol on request (:mod:`minignn.units`).

Book: chapters qm7 and diffusion.
"""

from minignn.datasets.atoms import QM7_TYPES, QM9_TYPES, AtomTypes, element_symbol
from minignn.datasets.molecules import Molecule, MoleculeSet, molecules_to_graphs, to_graph
from minignn.datasets.qm7 import QM7, check_split, find_qm7, indices_sha256, load_qm7, qm7_split, read_qm7, stratified_folds
from minignn.datasets.qm9 import ATOMREF, QM9, TARGETS, load_qm9

__all__ = [
    "AtomTypes", "QM7_TYPES", "QM9_TYPES", "Molecule", "MoleculeSet", "element_symbol", "to_graph",
    "molecules_to_graphs", "QM7", "find_qm7", "read_qm7", "load_qm7", "stratified_folds", "qm7_split",
    "check_split", "indices_sha256",
    "QM9", "TARGETS", "ATOMREF", "load_qm9",
]
