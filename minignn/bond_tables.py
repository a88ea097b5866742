r"""Typical bond lengths and allowed valences: the lookup tables behind :mod:`minignn.metrics`.

A pair of atoms with atomic numbers :math:`z_a, z_b` at distance :math:`d` is bonded with order

$$k(z_a, z_b, d) = \begin{cases}
3 & d < L_3(z_a, z_b) + \delta_3 \ \text{ and } \ d < L_2 + \delta_2 \ \text{ and } \ d < L_1 + \delta_1\\
2 & d < L_2(z_a, z_b) + \delta_2 \ \text{ and } \ d < L_1 + \delta_1 \\
1 & d < L_1(z_a, z_b) + \delta_1 \\
0 & \text{otherwise}
\end{cases}$$

where :math:`L_k` is the typical length of a bond of order :math:`k` (a missing entry never
matches) and :math:`\delta_1, \delta_2, \delta_3 = 10, 5, 3` pm are margins.  An atom is
*stable* when the sum of the orders of its bonds, its valence :math:`v_a = \sum_b k_{ab}`,
is one of the valences allowed for its element (:data:`ALLOWED_VALENCES`).

Source: the tables and margins of EDM (Hoogeboom et al. 2022, github
``ehoogeboom/e3_diffusion_for_molecules``, file ``qm9/bond_analyze.py``), who took the lengths
from wiredchemist.com ("bond energies and lengths") and chemistry-reference.com and tuned the
margins to maximise the stability of the QM9 molecules themselves.  Rewritten here as one
entry per unordered pair (symmetric by construction) in picometres, as published.  (EDM lists
C=S 160 pm under C only, so there a C-S double bond depended on the order of the two atoms;
here it does not.)

Allowed valences follow EDM for H, B, C, N, O, F, Si, P, Cl, As, Br, I; for S we allow
2, 4 or 6 (EDM allows 4 only; QM9 has no sulphur).  EDM's valence-only entries (Al, Hg, Bi)
are left out: without a bond length they could never bond.

Generated molecules carry no charges, so :mod:`minignn.metrics` also asks whether some formal
charge :math:`q \in \{-1, 0, +1\}` per atom explains each valence (:data:`CHARGED_VALENCES`,
:func:`charged_valence_table`): the valences allowed for a charged atom follow MiDi (Vignac et al.
2023, github ``cvignac/MiDi``, ``allowed_bonds`` in ``analysis/rdkit_functions.py``).

Book: chapter diffusion, section "Evaluating generated molecules".
"""

from __future__ import annotations

import torch
from torch import Tensor

from minignn.datasets.atoms import SYMBOLS

__all__ = [
    "SINGLE", "DOUBLE", "TRIPLE", "MARGINS_PM", "ALLOWED_VALENCES", "CHARGED_VALENCES", "CHARGES",
    "PM_IN_ANGSTROM", "bond_length_tables", "valence_table", "charged_valence_table", "supported_elements",
]

#: 1 picometre in Angstrom.
PM_IN_ANGSTROM = 0.01


def _parse(text: str) -> dict[tuple[str, str], int]:
    """'C-H 109  C-C 154 ...' -> {('C', 'H'): 109, ...}, each unordered pair once (sorted symbols)."""
    table: dict[tuple[str, str], int] = {}
    words = text.split()
    for pair, length in zip(words[::2], words[1::2]):
        key = tuple(sorted(pair.split("-")))
        if key in table:
            raise ValueError(f"bond table lists {pair} twice")
        table[key] = int(length)  # type: ignore[index]
    return table


#: Single-bond lengths L_1 in pm (EDM's ``bonds1``).
SINGLE = _parse("""
    H-H 74   H-C 109  H-N 101  H-O 96   H-F 92   H-B 119  H-Si 148 H-P 144  H-As 152 H-S 134
    H-Cl 127 H-Br 141 H-I 161
    C-C 154  C-N 147  C-O 143  C-F 135  C-Si 185 C-P 184  C-S 182  C-Cl 177 C-Br 194 C-I 214
    N-N 145  N-O 140  N-F 136  N-Cl 175 N-Br 214 N-S 168  N-I 222  N-P 177
    O-O 148  O-F 142  O-Br 172 O-S 151  O-P 163  O-Si 163 O-Cl 164 O-I 194
    F-F 142  F-S 158  F-Si 160 F-Cl 166 F-Br 178 F-P 156  F-I 187
    B-Cl 175
    Si-Si 233 Si-S 200 Si-Cl 202 Si-Br 215 Si-I 243
    Cl-Cl 199 Cl-P 203 Cl-S 207 Cl-Br 214
    S-S 204  S-Br 225 S-P 210  S-I 234
    Br-Br 228 Br-P 222
    P-P 221
    I-I 266
""")
#: Double-bond lengths L_2 in pm (EDM's ``bonds2``).
DOUBLE = _parse("C-C 134  C-N 129  C-O 120  C-S 160  N-N 125  N-O 121  O-O 121  O-P 150  P-S 186")
#: Triple-bond lengths L_3 in pm (EDM's ``bonds3``).
TRIPLE = _parse("C-C 120  C-N 116  C-O 113  N-N 110")
#: Margins (delta_1, delta_2, delta_3) in pm, tuned by EDM on QM9.
MARGINS_PM = (10, 5, 3)
#: Valences v an atom may have to be stable.
ALLOWED_VALENCES = {
    "H": (1,), "B": (3,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "Si": (4,), "P": (3, 5),
    "S": (2, 4, 6), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,),
}
MAX_VALENCE = 8  # valences above this are never allowed

#: The formal charges an atom may take in the charge-aware check, in the order of the table's first axis.
CHARGES = (-1, 0, 1)
#: Valences allowed with a formal charge: ``(symbol, q) -> valences``; q = 0 is :data:`ALLOWED_VALENCES`.
#:
#: Source: MiDi's ``allowed_bonds`` (Vignac et al. 2023, github ``cvignac/MiDi``,
#: ``analysis/rdkit_functions.py``), restricted to closed shells: a charged atom has the valence
#: of the neutral atom with as many electrons (C+ like B: 3, C- like N: 3, N+ like C: 4, N- like O: 2,
#: O+ like N: 3, O- like F: 1, P+ like Si: 4, S+ like P: 3, S- like Cl: 1, Br+ like Se: 2).
#: Left out of MiDi's table: N+ with valence 2 or 3 and S+ with 2 (open shells; MiDi's own comment
#: calls the N+ entries a QM9 artefact), S- with 3 (replaced by the thiolate's 1), charges of
#: magnitude 2 and 3, and the free ions of valence 0 (H+, H-, F-): an atom with no bond is a
#: fragment, not a bonded atom, so H and F have no charged form here.
CHARGED_VALENCES = {
    ("C", 1): (3,), ("C", -1): (3,), ("N", 1): (4,), ("N", -1): (2,), ("O", 1): (3,), ("O", -1): (1,),
    ("P", 1): (4,), ("S", 1): (3,), ("S", -1): (1,), ("Br", 1): (2,),
}


def supported_elements() -> tuple[int, ...]:
    """Atomic numbers with a valence and at least one tabulated bond length (sorted)."""
    bonded = {s for pair in SINGLE for s in pair}
    return tuple(sorted(SYMBOLS.index(s) for s in ALLOWED_VALENCES if s in bonded))


def bond_length_tables(dtype: torch.dtype = torch.float64) -> Tensor:
    r"""Thresholds :math:`L_k(z_a, z_b) + \delta_k` in **picometres** as a dense table ``[3, Z, Z]``.

    Entry ``[k - 1, z_a, z_b]`` is the threshold for order :math:`k`, symmetric in
    :math:`(z_a, z_b)`, and :math:`-\infty` where no length is tabulated (no distance is
    below it).  ``Z = 1 + the largest supported atomic number``.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype (the tables hold -inf), got {dtype!r}")
    size = max(supported_elements()) + 1
    out = torch.full((3, size, size), float("-inf"), dtype=dtype)
    for k, (table, margin) in enumerate(zip((SINGLE, DOUBLE, TRIPLE), MARGINS_PM)):
        for (a, b), length in table.items():
            za, zb = SYMBOLS.index(a), SYMBOLS.index(b)
            out[k, za, zb] = out[k, zb, za] = length + margin  # integers: exact comparisons with 100 d
    return out


def valence_table() -> Tensor:
    """Boolean table ``[Z, MAX_VALENCE + 2]``: entry ``[z, v]`` is True iff valence ``v`` is allowed for ``z``.

    The last column (``v > MAX_VALENCE``, after clamping) is all False.
    """
    size = max(supported_elements()) + 1
    out = torch.zeros(size, MAX_VALENCE + 2, dtype=torch.bool)
    for symbol, valences in ALLOWED_VALENCES.items():
        out[SYMBOLS.index(symbol), list(valences)] = True
    return out


def charged_valence_table() -> Tensor:
    """Boolean table ``[3, Z, MAX_VALENCE + 2]``: entry ``[q + 1, z, v]`` is True iff valence ``v`` is allowed
    for element ``z`` with formal charge ``q`` in :data:`CHARGES` = (-1, 0, +1).

    ``[1]`` (q = 0) is :func:`valence_table`; ``[0]`` and ``[2]`` come from :data:`CHARGED_VALENCES`.
    The last column (``v > MAX_VALENCE``) is all False.
    """
    out = torch.zeros(len(CHARGES), *valence_table().shape, dtype=torch.bool)
    out[1] = valence_table()
    for (symbol, q), valences in CHARGED_VALENCES.items():
        out[CHARGES.index(q), SYMBOLS.index(symbol), list(valences)] = True
    return out
