r"""Atom types: the alphabet of elements of a data set, as contiguous indices for an embedding.

A data set uses a few elements, its alphabet :math:`\mathcal{Z}` (QM7: H, C, N, O, S =
``[1, 6, 7, 8, 16]``; QM9: H, C, N, O, F = ``[1, 6, 7, 8, 9]``).  A network embeds an
atom by a row of a table ``torch.nn.Embedding(K, F)`` with :math:`K = |\mathcal{Z}|`,
so the atomic numbers are mapped to contiguous types :math:`t(z) \in \{0, \dots, K-1\}`.

Book: chapter qm7, section "The data".
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from minignn.checks import check_int

__all__ = ["SYMBOLS", "MAX_ATOMIC_NUMBER", "element_symbol", "AtomTypes", "QM7_TYPES", "QM9_TYPES"]

#: Element symbols by atomic number (``SYMBOLS[0]`` is a placeholder).
SYMBOLS = tuple(
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe".split()
)


#: The largest atomic number (oganesson): an element must lie in 1..MAX_ATOMIC_NUMBER.
MAX_ATOMIC_NUMBER = 118


def element_symbol(z: int) -> str:
    """Symbol of atomic number ``z`` ("Cl" for 17), or ``"?"`` when not tabulated."""
    z = check_int(z, "z", minimum=None)
    return SYMBOLS[z] if 0 < z < len(SYMBOLS) else "?"


def _integers(name: str, values) -> Tensor:
    """``values`` as an int64 tensor, after checking that they are integers (a float 6.5 is not truncated to 6)."""
    try:
        t = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be integers (a tensor or a sequence of ints), got {type(values).__name__}") from None
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got a {t.dtype} tensor (convert with .long() only if the values "
                         "are whole numbers)")
    return t.long()


class AtomTypes:
    r"""The alphabet of a data set: atomic numbers :math:`z` -> contiguous types :math:`t(z)`.

    $$t(z) = \#\{z' \in \mathcal{Z} : z' < z\}, \qquad z \in \mathcal{Z}$$

    for the sorted alphabet :math:`\mathcal{Z}` (e.g. ``[1, 6, 7, 8, 16]`` for QM7, so
    S has type 4).  An element outside the alphabet raises ``ValueError``.

    Args:
        elements: the atomic numbers of the alphabet.
        name: the data set's name, used in error messages.

    Book: chapter qm7, section "The data".
    """

    def __init__(self, elements: Sequence[int], name: str = "given"):
        if isinstance(elements, (str, bytes)) or not hasattr(elements, "__iter__"):
            raise ValueError(f"elements must be a sequence of atomic numbers, got {elements!r}")
        elements = sorted(check_int(z, "an element", minimum=None) for z in elements)
        if not elements or elements[0] < 1 or elements[-1] > MAX_ATOMIC_NUMBER or len(set(elements)) != len(elements):
            raise ValueError(f"elements must be distinct atomic numbers in 1..{MAX_ATOMIC_NUMBER}, got {elements}")
        self.elements: tuple[int, ...] = tuple(elements)
        self.name = name
        self._table = torch.full((elements[-1] + 1,), -1, dtype=torch.int64)
        self._table[torch.tensor(elements)] = torch.arange(len(elements))

    def __len__(self) -> int:
        return len(self.elements)

    def __repr__(self) -> str:
        return f"AtomTypes({self.name}: {', '.join(element_symbol(z) for z in self.elements)})"

    @property
    def symbols(self) -> list[str]:
        return [element_symbol(z) for z in self.elements]

    def check(self, z: Tensor) -> None:
        """Raise ``ValueError`` naming the first element of ``z`` outside the alphabet (or non-integer ``z``)."""
        z = _integers("z (atomic numbers)", z).reshape(-1)
        if z.numel() == 0:
            return
        lo, hi = (int(v) for v in torch.aminmax(z))
        if 0 <= lo and hi < 1024:  # fast path: which values occur, by counting
            present = set(torch.bincount(z).nonzero()[:, 0].tolist())
        else:
            present = set(z.unique().tolist())
        bad = sorted(present - set(self.elements))
        if bad:
            more = f" (unknown elements: {bad})" if len(bad) > 1 else ""
            raise ValueError(
                f"element {bad[0]} ({element_symbol(bad[0])}) is not in the {self.name} alphabet "
                f"{list(self.elements)}{more}"
            )

    def index(self, z: Tensor) -> Tensor:
        """Types :math:`t(z)`, int64, same shape as ``z``."""
        z = _integers("z (atomic numbers)", z)
        self.check(z)
        return self._table[z]

    def atomic_numbers(self, types: Tensor) -> Tensor:
        """The inverse map :math:`t \\mapsto z`, int64, same shape as ``types``."""
        types = _integers("types", types)
        if types.numel() and (int(types.min()) < 0 or int(types.max()) >= len(self)):
            raise ValueError(f"atom types must lie in [0, {len(self) - 1}] for {self!r}, got {types.unique().tolist()}")
        return torch.tensor(self.elements, dtype=torch.int64)[types]

    def one_hot(self, z: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """One-hot atom types ``[n, K]`` (float, default dtype)."""
        return torch.nn.functional.one_hot(self.index(z), len(self)).to(dtype or torch.get_default_dtype())


QM7_TYPES = AtomTypes([1, 6, 7, 8, 16], "QM7")
QM9_TYPES = AtomTypes([1, 6, 7, 8, 9], "QM9")
