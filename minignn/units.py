r"""Units: every length and energy constant of minignn, and the conversions, in one place.

minignn works in **Angstrom** for positions everywhere.  Energies keep the unit
of their data set unless converted here: QM7 in kcal/mol, QM9 in Hartree (as
shipped), with eV and kcal/mol one call away.

Constants (CODATA 2018, the values recommended by NIST from May 2019,
https://physics.nist.gov/cuu/Constants/):

* Bohr radius :math:`a_0 = 0.529177210903` Å;
* Hartree energy :math:`E_h = 27.211386245988` eV :math:`= 4.3597447222071 \times 10^{-18}` J;
* :math:`E_h N_A / (4184\ \mathrm{J/kcal}) = 627.5094740631` kcal/mol, with the exact
  Avogadro constant :math:`N_A = 6.02214076 \times 10^{23}` mol\ :sup:`-1` (SI 2019) and the
  thermochemical calorie, 1 cal = 4.184 J exactly;
* hence 1 eV = :math:`627.5094740631 / 27.211386245988 = 23.060547830619` kcal/mol.

(CODATA 2022, used by SciPy >= 1.15, changed :math:`a_0` and :math:`E_h` in the tenth
significant digit, far below the precision of any data set here.)

A conversion is a multiplication, so the functions accept Python floats, NumPy
arrays and torch tensors alike, and keep a tensor's dtype and device.

Book: chapter conventions, section "Units".
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BOHR_IN_ANGSTROM",
    "HARTREE_IN_EV",
    "HARTREE_IN_KCAL_PER_MOL",
    "EV_IN_KCAL_PER_MOL",
    "LENGTH_UNITS",
    "ENERGY_UNITS",
    "convert",
    "bohr_to_angstrom",
    "angstrom_to_bohr",
    "hartree_to_ev",
    "ev_to_hartree",
    "hartree_to_kcal_per_mol",
    "kcal_per_mol_to_hartree",
    "ev_to_kcal_per_mol",
    "kcal_per_mol_to_ev",
]

#: 1 Bohr in Angstrom (CODATA 2018).
BOHR_IN_ANGSTROM = 0.529177210903
#: 1 Hartree in eV (CODATA 2018).
HARTREE_IN_EV = 27.211386245988
#: 1 Hartree in kcal/mol (CODATA 2018 E_h, exact N_A, thermochemical calorie).
HARTREE_IN_KCAL_PER_MOL = 627.5094740631
#: 1 eV in kcal/mol (derived from the two lines above).
EV_IN_KCAL_PER_MOL = HARTREE_IN_KCAL_PER_MOL / HARTREE_IN_EV

#: Size of each length unit in Angstrom.
LENGTH_UNITS = {"angstrom": 1.0, "bohr": BOHR_IN_ANGSTROM}
#: Size of each energy unit in Hartree.
ENERGY_UNITS = {"hartree": 1.0, "ev": 1.0 / HARTREE_IN_EV, "kcal/mol": 1.0 / HARTREE_IN_KCAL_PER_MOL}

_ALIASES = {"a": "angstrom", "å": "angstrom", "ang": "angstrom", "ha": "hartree", "kcal_per_mol": "kcal/mol"}


def _kind_and_size(unit: str) -> tuple[str, float]:
    if not isinstance(unit, str):
        raise ValueError(f"a unit must be a string such as 'bohr' or 'eV', got {unit!r}")
    key = _ALIASES.get(unit.strip().lower(), unit.strip().lower())
    if key in LENGTH_UNITS:
        return "length", LENGTH_UNITS[key]
    if key in ENERGY_UNITS:
        return "energy", ENERGY_UNITS[key]
    known = sorted(LENGTH_UNITS) + ["Hartree", "eV", "kcal/mol"]
    raise ValueError(f"unknown unit {unit!r}; known units: {known}")


def convert(value: Any, from_unit: str, to_unit: str) -> Any:
    r"""Convert a length or an energy: :math:`v_\mathrm{to} = v_\mathrm{from} \cdot s_\mathrm{from} / s_\mathrm{to}`.

    :math:`s` is the size of the unit in Angstrom (lengths) or Hartree (energies).

    Args:
        value: float, NumPy array or tensor (any shape; dtype and device are kept).
        from_unit, to_unit: ``"angstrom"``, ``"bohr"``, ``"hartree"``, ``"eV"``, ``"kcal/mol"``
            (case-insensitive).

    Returns:
        ``value`` expressed in ``to_unit``, same type and shape.

    Book: chapter conventions, section "Units".
    """
    if value is None or isinstance(value, (str, bytes, bool)):
        raise ValueError(f"value must be a number, a NumPy array or a tensor, got {value!r}")
    kind_from, size_from = _kind_and_size(from_unit)
    kind_to, size_to = _kind_and_size(to_unit)
    if kind_from != kind_to:
        article = {"length": "a length", "energy": "an energy"}
        raise ValueError(f"cannot convert {article[kind_from]} ({from_unit!r}) into {article[kind_to]} ({to_unit!r})")
    if size_from == size_to:
        return value
    return value * (size_from / size_to)


def bohr_to_angstrom(x: Any) -> Any:
    """Lengths: Bohr -> Angstrom, ``x * 0.529177210903``."""
    return x * BOHR_IN_ANGSTROM


def angstrom_to_bohr(x: Any) -> Any:
    """Lengths: Angstrom -> Bohr, ``x / 0.529177210903``."""
    return x / BOHR_IN_ANGSTROM


def hartree_to_ev(e: Any) -> Any:
    """Energies: Hartree -> eV, ``e * 27.211386245988``."""
    return e * HARTREE_IN_EV


def ev_to_hartree(e: Any) -> Any:
    """Energies: eV -> Hartree, ``e / 27.211386245988``."""
    return e / HARTREE_IN_EV


def hartree_to_kcal_per_mol(e: Any) -> Any:
    """Energies: Hartree -> kcal/mol, ``e * 627.5094740631``."""
    return e * HARTREE_IN_KCAL_PER_MOL


def kcal_per_mol_to_hartree(e: Any) -> Any:
    """Energies: kcal/mol -> Hartree, ``e / 627.5094740631``."""
    return e / HARTREE_IN_KCAL_PER_MOL


def ev_to_kcal_per_mol(e: Any) -> Any:
    """Energies: eV -> kcal/mol, ``e * 23.060547830619``."""
    return e * EV_IN_KCAL_PER_MOL


def kcal_per_mol_to_ev(e: Any) -> Any:
    """Energies: kcal/mol -> eV, ``e / 23.060547830619``."""
    return e / EV_IN_KCAL_PER_MOL
