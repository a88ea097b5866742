"""minignn.units: constants against their CODATA definitions, conversions against each other."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from minignn import units

# CODATA 2018 inputs, typed from NIST (https://physics.nist.gov/cuu/Constants/), and SI 2019 exact constants.
HARTREE_J = Fraction("4.3597447222071e-18")
ELEMENTARY_CHARGE_C = Fraction("1.602176634e-19")  # exact
AVOGADRO = Fraction("6.02214076e23")  # exact
KCAL_J = Fraction(4184)  # thermochemical kilocalorie, exact


def test_hartree_in_ev_is_hartree_over_elementary_charge():
    assert units.HARTREE_IN_EV == pytest.approx(float(HARTREE_J / ELEMENTARY_CHARGE_C), rel=1e-13)


def test_hartree_in_kcal_per_mol_from_joule_avogadro_and_calorie():
    assert units.HARTREE_IN_KCAL_PER_MOL == pytest.approx(float(HARTREE_J * AVOGADRO / KCAL_J), rel=1e-13)


def test_ev_in_kcal_per_mol_from_elementary_charge():
    assert units.EV_IN_KCAL_PER_MOL == pytest.approx(float(ELEMENTARY_CHARGE_C * AVOGADRO / KCAL_J), rel=1e-12)


def test_agrees_with_scipy_constants_to_the_codata_revision():
    constants = pytest.importorskip("scipy.constants")
    # SciPy may ship a later CODATA edition (2022 changed a_0 and E_h in the 10th digit).
    bohr = constants.physical_constants["Bohr radius"][0] / constants.angstrom
    hartree_ev = constants.physical_constants["Hartree energy in eV"][0]
    assert units.BOHR_IN_ANGSTROM == pytest.approx(bohr, rel=1e-8)
    assert units.HARTREE_IN_EV == pytest.approx(hartree_ev, rel=1e-8)
    assert units.HARTREE_IN_KCAL_PER_MOL == pytest.approx(
        constants.physical_constants["Hartree energy"][0] * constants.N_A / (1000 * constants.calorie), rel=1e-8)


NAMES = ["hartree", "eV", "kcal/mol"]


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("b", NAMES)
def test_energy_round_trip_and_transitivity(a, b):
    x = torch.randn(7, dtype=torch.float64) * 100
    there = units.convert(x, a, b)
    assert torch.allclose(units.convert(there, b, a), x, rtol=1e-14, atol=0)
    via_hartree = units.convert(units.convert(x, a, "hartree"), "hartree", b)
    assert torch.allclose(there, via_hartree, rtol=1e-14, atol=0)


def test_named_functions_match_convert_and_invert_each_other():
    e = torch.tensor([-0.5, 1.0, 40.25], dtype=torch.float64)
    pairs = [
        (units.hartree_to_ev, units.ev_to_hartree, "hartree", "ev"),
        (units.hartree_to_kcal_per_mol, units.kcal_per_mol_to_hartree, "hartree", "kcal/mol"),
        (units.ev_to_kcal_per_mol, units.kcal_per_mol_to_ev, "ev", "kcal/mol"),
        (units.bohr_to_angstrom, units.angstrom_to_bohr, "bohr", "angstrom"),
    ]
    for forward, backward, a, b in pairs:
        assert torch.allclose(forward(e), units.convert(e, a, b), rtol=1e-15, atol=0)
        assert torch.allclose(backward(forward(e)), e, rtol=1e-15, atol=0)


def test_lengths():
    assert units.convert(1.0, "bohr", "angstrom") == units.BOHR_IN_ANGSTROM
    assert units.angstrom_to_bohr(units.BOHR_IN_ANGSTROM) == pytest.approx(1.0, rel=1e-15)
    assert units.convert(2.5, "Angstrom", "angstrom") == 2.5


def test_types_dtype_and_shape_are_kept():
    x32 = torch.ones(2, 3, dtype=torch.float32)
    out = units.hartree_to_ev(x32)
    assert out.dtype == torch.float32 and out.shape == (2, 3)
    arr = units.convert(np.ones(4), "eV", "kcal/mol")
    assert isinstance(arr, np.ndarray) and np.allclose(arr, units.EV_IN_KCAL_PER_MOL)
    assert isinstance(units.convert(2.0, "hartree", "eV"), float)


def test_errors():
    with pytest.raises(ValueError, match="unknown unit 'parsec'"):
        units.convert(1.0, "parsec", "angstrom")
    with pytest.raises(ValueError, match="cannot convert a length .* into an energy"):
        units.convert(1.0, "bohr", "eV")
    with pytest.raises(ValueError, match="a unit must be a string"):
        units.convert(1.0, 3, "eV")
