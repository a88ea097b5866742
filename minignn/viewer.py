"""3D views of molecules with py3Dmol: one molecule, or many in a grid.

Atoms are drawn as balls and sticks, coloured by element with the Jmol scheme
(py3Dmol's ``colorscheme="Jmol"``); the bonds are guessed by 3Dmol.js from the
distances, so a view shows the chemistry, not the graph's edges.  Positions are in
Angstrom, as everywhere in minignn.

Accepted inputs: ``(z, pos)`` tensors, a :class:`minignn.datasets.Molecule`, a
:class:`minignn.graph.Graph` whose ``x`` holds atom types (then ``atom_types`` maps
them back to elements), or a batch of such graphs (shown in a grid).  Every function
returns the ``py3Dmol.view``; in Jupyter it displays itself.

:func:`show_trajectory` animates a reverse trajectory of the diffusion chapter.

Book: chapter qm7, section "The data"; chapter diffusion, sections "Generating molecules" and "A reverse trajectory".
"""

from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import torch
from torch import Tensor

from minignn.checks import check_int, check_number
from minignn.datasets.atoms import AtomTypes, element_symbol
from minignn.datasets.molecules import Molecule
from minignn.graph import Graph, unbatch

__all__ = ["to_xyz", "show_molecule", "show_molecules", "show_trajectory"]

BALL_AND_STICK = {"stick": {"radius": 0.15}, "sphere": {"scale": 0.25}}


def to_xyz(z: Tensor, pos: Tensor, comment: str = "") -> str:
    """The XYZ file text of one molecule: ``n``, a comment line, then ``symbol x y z`` per atom (Angstrom).

    Args:
        z: ``[n]`` atomic numbers; pos: ``[n, 3]`` positions in Angstrom.
    """
    z = torch.as_tensor(z).reshape(-1)
    if z.is_floating_point() or z.is_complex() or z.dtype == torch.bool:
        raise ValueError(f"z must hold integer atomic numbers, got {z.dtype} (a float is not truncated to an element)")
    pos = torch.as_tensor(pos)
    if pos.shape != (z.numel(), 3):
        raise ValueError(f"pos must have shape [n={z.numel()}, 3] to match z, got {list(pos.shape)}")
    if not bool(torch.isfinite(pos).all()):
        raise ValueError("pos must be finite to be drawn, got NaN or inf")
    symbols = [element_symbol(int(v)) for v in z.tolist()]
    if "?" in symbols:
        raise ValueError(f"z must hold atomic numbers >= 1 (known elements), got {sorted(set(z.tolist()))}")
    lines = [str(z.numel()), comment.replace("\n", " ")]
    lines += [f"{s} {x:.6f} {y:.6f} {w:.6f}" for s, (x, y, w) in zip(symbols, pos.tolist())]
    return "\n".join(lines) + "\n"


def _atoms(item: Any, atom_types: AtomTypes | None) -> tuple[Tensor, Tensor, str]:
    """``(z, pos, label)`` of a Molecule, a single Graph or a ``(z, pos)`` pair."""
    if isinstance(item, Molecule):
        return item.z, item.pos, item.smiles or item.formula
    if isinstance(item, Graph):
        if item.pos is None or item.x is None:
            raise ValueError("a Graph needs pos (Angstrom) and x (atom types) to be drawn")
        if atom_types is None:
            raise ValueError("a Graph stores atom types in x, not elements: pass atom_types= "
                             "(e.g. minignn.datasets.QM7_TYPES) to map them back to elements")
        types = item.x if item.x.dim() == 1 else item.x.argmax(dim=1)  # indices, or one-hot rows
        return atom_types.atomic_numbers(types), item.pos, ""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return torch.as_tensor(item[0]), torch.as_tensor(item[1]), ""
    raise ValueError(f"cannot draw a {type(item).__name__}: give (z, pos), a Molecule or a Graph")


def _styled(style: dict | None, colorscheme: str) -> dict:
    """A copy of ``style`` (default ball and stick) with every sub-style coloured by ``colorscheme`` unless it says."""
    style = copy.deepcopy(BALL_AND_STICK if style is None else style)
    for value in style.values():
        if isinstance(value, dict):
            value.setdefault("colorscheme", colorscheme)
    return style


def show_molecules(
    molecules: Sequence[Any] | Graph,
    grid: tuple[int, int] | None = None,
    *,
    atom_types: AtomTypes | None = None,
    style: dict | None = None,
    colorscheme: str = "Jmol",
    width: int = 600,
    height: int | None = None,
    labels: bool = True,
):
    """Many molecules side by side, one per cell of a ``rows x cols`` grid.

    Args:
        molecules: a sequence of Molecule / Graph / ``(z, pos)``, or a batched Graph.
        grid: ``(rows, cols)``; default: up to 4 columns, as many rows as needed.
        atom_types: maps a Graph's ``x`` back to elements.
        style: a 3Dmol.js style dict (default: ball and stick).
        width, height: pixels of the whole grid (height default: 200 per row).
        labels: write each molecule's SMILES or formula under it.

    Returns:
        the ``py3Dmol.view``.
    """
    import py3Dmol

    if isinstance(molecules, Graph):
        molecules = unbatch(molecules) if molecules.num_nodes_per_graph is not None else [molecules]
    items = [_atoms(m, atom_types) for m in molecules]
    if not items:
        raise ValueError("show_molecules needs at least one molecule")
    if grid is None:
        cols = min(4, len(items))
        grid = (math.ceil(len(items) / cols), cols)
    if not isinstance(grid, (tuple, list)) or len(grid) != 2:
        raise ValueError(f"grid must be a pair (rows, cols), got {grid!r}")
    rows, cols = check_int(grid[0], "grid rows", minimum=1), check_int(grid[1], "grid cols", minimum=1)
    width = check_int(width, "width", minimum=1)
    if height is not None:
        height = check_int(height, "height", minimum=1)
    if rows * cols < len(items):
        raise ValueError(f"a {rows}x{cols} grid has {rows * cols} cells for {len(items)} molecules")
    style = _styled(style, colorscheme)
    view = py3Dmol.view(width=width, height=height or 200 * rows, viewergrid=(rows, cols))
    for k, (z, pos, label) in enumerate(items):
        cell = (k // cols, k % cols)
        view.addModel(to_xyz(z, pos, label), "xyz", viewer=cell)
        view.setStyle({}, style, viewer=cell)
        if labels and label:
            cx, _, cz = pos.mean(dim=0).tolist()
            below = {"x": cx, "y": float(pos[:, 1].min()) - 1.5, "z": cz}  # under the molecule, Angstrom
            view.addLabel(label, {"position": below, "inFront": True, "fontSize": 11, "backgroundOpacity": 0.5,
                                  "alignment": "topCenter"}, viewer=cell)
        view.zoomTo(viewer=cell)
    return view


def show_molecule(
    z: Any,
    pos: Tensor | None = None,
    *,
    atom_types: AtomTypes | None = None,
    style: dict | None = None,
    colorscheme: str = "Jmol",
    width: int = 400,
    height: int = 300,
):
    """One molecule in 3D: ``show_molecule(z, pos)``, ``show_molecule(molecule)`` or ``show_molecule(graph)``.

    A batched Graph is shown with :func:`show_molecules` (one cell per molecule).

    Args:
        z: ``[n]`` atomic numbers (then ``pos`` ``[n, 3]`` in Angstrom), or a Molecule, or a Graph.
        atom_types: maps a Graph's ``x`` back to elements.
        style, colorscheme: 3Dmol.js style (default ball and stick) and element colours (Jmol).

    Returns:
        the ``py3Dmol.view``.
    """
    import py3Dmol

    if isinstance(z, Graph) and z.num_nodes_per_graph is not None:
        return show_molecules(z, atom_types=atom_types, style=style, colorscheme=colorscheme)
    z, pos, _ = _atoms(z if pos is None else (z, pos), atom_types)
    width, height = check_int(width, "width", minimum=1), check_int(height, "height", minimum=1)
    style = _styled(style, colorscheme)
    view = py3Dmol.view(width=width, height=height)
    view.addModel(to_xyz(z, pos), "xyz")
    view.setStyle({}, style)
    view.zoomTo()
    return view


def show_trajectory(
    frames: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    atom_types: AtomTypes | None = None,
    style: dict | None = None,
    colorscheme: str = "Jmol",
    interval_ms: int = 150,
    width: int = 400,
    height: int = 300,
):
    """An animation of the same atoms moving, frame after frame, in a loop (for example a reverse diffusion).

    Args:
        frames: a sequence of Molecule / Graph / ``(z, pos)``, all with the same number of atoms (the elements may
            change from frame to frame, as they do while a diffusion model decides them).
        labels: one text per frame (stored as the XYZ comment line), e.g. ``"t = 0.50"``.
        atom_types, style, colorscheme: as in :func:`show_molecule`; interval_ms: time per frame.

    Returns:
        the ``py3Dmol.view``.
    """
    import py3Dmol

    items = [_atoms(f, atom_types) for f in frames]
    if not items:
        raise ValueError("show_trajectory needs at least one frame")
    sizes = sorted({z.numel() for z, _, _ in items})
    if len(sizes) > 1:
        raise ValueError(f"every frame must have the same number of atoms, got sizes {sizes}")
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"labels must hold one text per frame ({len(items)}), got {len(labels)}")
    try:
        interval_ms = check_number(interval_ms, "interval_ms", minimum=1)
    except ValueError:
        raise ValueError(f"interval_ms must be a positive number of milliseconds, got {interval_ms}") from None
    width, height = check_int(width, "width", minimum=1), check_int(height, "height", minimum=1)
    movie = "".join(to_xyz(z, pos, labels[k] if labels is not None else "") for k, (z, pos, _) in enumerate(items))
    view = py3Dmol.view(width=width, height=height)
    view.addModelsAsFrames(movie, "xyz")
    view.setStyle({}, _styled(style, colorscheme))
    view.animate({"loop": "forward", "interval": int(interval_ms)})
    view.zoomTo()
    return view
