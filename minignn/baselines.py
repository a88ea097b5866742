r"""Baselines for molecular energies: the mean, a per-atom linear fit, kernel ridge on Coulomb matrices.

Three rows every learned model must beat, from the least to the most informed:

1. **Mean**: :math:`\hat y = \bar y_{\text{train}}`.
2. **Per-atom linear** (composition): :math:`\hat y_g = b + \sum_k c_{gk} w_k` with
   :math:`c_{gk}` the number of atoms of type :math:`k` in molecule :math:`g`
   (:func:`composition` counts them, :class:`CompositionBaseline` fits by least squares).
3. **Kernel ridge regression on sorted Coulomb matrices** (Rupp et al. 2012):

$$C_{ii} = \tfrac12 Z_i^{2.4}, \qquad C_{ij} = \frac{Z_i Z_j}{|R_i - R_j|} \ (i \neq j,\ R \text{ in Bohr})$$

rows and columns sorted by decreasing row norm :math:`\|C_i\|_2` (this fixes the atom order:
the *sorted* matrix is permutation invariant, the raw one is not), zero padded to
``size`` atoms, flattened; then with the Laplacian kernel
:math:`k(a, b) = \exp(-\|a - b\|_1 / \sigma)`

$$\alpha = (K + \lambda I)^{-1} (y - \bar y), \qquad \hat y(a) = \bar y + \sum_g \alpha_g\, k(a, a_g)$$

with :math:`\sigma, \lambda` chosen on a validation set (one eigendecomposition of
:math:`K` per :math:`\sigma` serves every :math:`\lambda`).

A learned model predicts what the baseline leaves: :class:`Standardizer` scales that residual,
:math:`z = (y - \text{baseline} - \mu) / \sigma` (what :class:`minignn.train.Trainer` fits).

Book: chapter qm7, section "Baselines".
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, check_int, check_number
from minignn.graph import Graph
from minignn.pooling import sum_pool
from minignn.units import angstrom_to_bohr

__all__ = ["mean_baseline", "composition", "CompositionBaseline", "composition_baseline", "Standardizer",
           "coulomb_matrix", "sorted_coulomb_features", "laplacian_kernel", "KernelRidge", "fit_kernel_ridge"]


def mean_baseline(y_train: Tensor, num_predictions: int) -> Tensor:
    r""":math:`\hat y = \bar y_{\text{train}}` for ``num_predictions`` molecules, ``[num_predictions]`` float64."""
    y = _finite("y_train", y_train)
    if y.numel() == 0:
        raise ValueError("mean_baseline needs at least one training target, got none")
    return y.mean().expand(check_int(num_predictions, "num_predictions")).clone()


def _finite(name: str, values) -> Tensor:
    """``values`` as a flat float64 tensor, after checking that every entry is a finite number."""
    try:
        t = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be numbers (a tensor or a sequence of floats), got {type(values).__name__}") from None
    if not bool(torch.isfinite(t).all()):
        bad = (~torch.isfinite(t)).nonzero()[:, 0]
        raise ValueError(f"{name} must be finite, but {bad.numel()} value(s) are NaN or inf (first: entry "
                         f"{int(bad[0])} = {float(t[bad[0]])}); drop or fix those targets first")
    return t


def composition(g: Graph, num_types: int) -> Tensor:
    r"""Composition :math:`c_{gk} = \#\{j \in g : t_j = k\}`, ``[num_graphs, num_types]`` float64.

    Args: ``g`` a graph or a batch whose ``x`` holds integer node types ``[num_nodes]``; ``num_types`` K.
    """
    if not isinstance(g, Graph):
        raise ValueError(f"composition takes a minignn.graph.Graph (or a batch of them), got {type(g).__name__}")
    num_types = check_int(num_types, "num_types", minimum=1)
    x = g.x
    if x is None or x.is_floating_point() or x.dim() != 1:
        got = "None" if x is None else f"{x.dtype} {list(x.shape)}"
        raise ValueError(f"composition needs integer node types x [num_nodes], got {got} (or use baseline=False)")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_types):
        raise ValueError(f"node types must lie in [0, {num_types - 1}], got [{int(x.min())}, {int(x.max())}]")
    return sum_pool(nn.functional.one_hot(x, num_types).double(), g.batch, g.num_graphs)


class CompositionBaseline:
    r"""Per-type linear baseline :math:`\text{baseline}_g = b + \sum_k c_{gk} w_k`, fitted by least squares:

    $$(w, b) = \arg\min_{w, b} \sum_g \Big(y_g - b - \sum_k c_{gk} w_k\Big)^2$$

    in float64 with ``torch.linalg.lstsq`` (driver gelsd: the minimum-norm solution when columns
    are collinear, e.g. graphs of one size and a bias).  Args: ``num_types`` K; ``bias``: fit b.
    ``fit(counts [G, K], y [G])``; ``predict(counts [G, K]) -> [G]`` float64.
    """

    def __init__(self, num_types: int, bias: bool = True):
        self.num_types, self.bias = check_int(num_types, "num_types", minimum=1), check_bool(bias, "bias")
        self.weight, self.intercept = None, torch.zeros((), dtype=torch.float64)  # w [K], b

    def _check(self, counts: Tensor) -> Tensor:
        if not isinstance(counts, Tensor) or counts.dim() != 2 or counts.shape[1] != self.num_types:
            got = list(counts.shape) if isinstance(counts, Tensor) else type(counts).__name__
            raise ValueError(f"counts must have shape [num_graphs, num_types={self.num_types}], got {got}")
        return counts.double()

    def fit(self, counts: Tensor, y: Tensor) -> "CompositionBaseline":
        counts, y = self._check(counts).cpu(), _finite("y", torch.as_tensor(y).detach().cpu())
        if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
            raise ValueError("counts must be finite and >= 0 (atoms of each type per graph)")
        if counts.shape[0] == 0 or y.numel() != counts.shape[0]:
            raise ValueError(f"fit needs one target per graph and at least one graph, got {counts.shape[0]} "
                             f"graphs and {y.numel()} targets")
        A = torch.cat([counts, torch.ones(len(y), 1, dtype=torch.float64)], 1) if self.bias else counts
        solution = torch.linalg.lstsq(A, y[:, None], driver="gelsd").solution[:, 0]
        self.weight = solution[: self.num_types]
        self.intercept = solution[-1] if self.bias else self.intercept
        return self

    def predict(self, counts: Tensor) -> Tensor:
        if self.weight is None:
            raise ValueError("CompositionBaseline.predict called before fit")
        counts = self._check(counts)
        return counts @ self.weight.to(counts.device) + self.intercept.to(counts.device)

    def state_dict(self) -> dict:
        return {"num_types": self.num_types, "bias": self.bias, "weight": self.weight, "intercept": self.intercept}

    @classmethod
    def from_state_dict(cls, state: dict) -> "CompositionBaseline":
        """The inverse of :meth:`state_dict`; raises ValueError for a missing entry or non-finite weights."""
        missing = [k for k in ("num_types", "bias", "weight", "intercept") if not isinstance(state, dict) or k not in state]
        if missing:
            raise ValueError(f"a CompositionBaseline state needs num_types, bias, weight and intercept; missing {missing}")
        out = cls(state["num_types"], state["bias"])
        weight, intercept = state["weight"], state["intercept"]
        if weight is not None:
            if not isinstance(weight, Tensor) or weight.shape != (out.num_types,):
                got = list(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
                raise ValueError(f"the baseline weight must have shape [num_types={out.num_types}], got {got}")
            _finite("the baseline weight", weight)
        _finite("the baseline intercept", intercept)
        out.weight, out.intercept = weight, torch.as_tensor(intercept, dtype=torch.float64)
        return out


def composition_baseline(counts_train: Tensor, y_train: Tensor, counts_test: Tensor) -> Tensor:
    r"""Per-atom linear fit :math:`b + \sum_k c_{gk} w_k` on the training set, evaluated on ``counts_test``.

    Args:
        counts_train: ``[G, K]`` atom counts per type; y_train: ``[G]``; counts_test: ``[G', K]``.

    Returns:
        ``[G']`` float64.
    """
    counts_train = torch.as_tensor(counts_train)
    if counts_train.dim() != 2:
        raise ValueError(f"counts_train must have shape [num_molecules, num_types], got {list(counts_train.shape)}")
    return CompositionBaseline(counts_train.shape[1]).fit(counts_train, y_train).predict(torch.as_tensor(counts_test))


class Standardizer:
    r""":math:`z = (r - \mu) / \sigma` with the mean and (population) standard deviation of the training
    residuals; ``inverse`` gives :math:`r = \mu + \sigma z`.  A constant residual gets :math:`\sigma = 1`."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        self.mean = check_number(mean, "mean")
        self.std = check_number(std, "std", minimum=0, strict_minimum=True)  # z = r / 0 would be inf

    def fit(self, r: Tensor) -> "Standardizer":
        r = _finite("the residuals r", r)
        if r.numel() == 0:
            raise ValueError("Standardizer.fit needs at least one value, got an empty tensor")
        self.mean, std = float(r.mean()), float(r.std(correction=0))
        self.std = std if std > 1e-12 * max(1.0, abs(self.mean)) else 1.0
        return self

    def transform(self, r: Tensor) -> Tensor:
        return (r - self.mean) / self.std

    def inverse(self, z: Tensor) -> Tensor:
        return self.mean + self.std * z

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std}


def coulomb_matrix(z: Tensor, pos: Tensor) -> Tensor:
    r"""The Coulomb matrix of one molecule (atomic units: ``pos`` in **Angstrom** is converted to Bohr).

    $$C_{ii} = \tfrac12 Z_i^{2.4}, \qquad C_{ij} = \frac{Z_i Z_j}{|R_i - R_j|}$$

    Args:
        z: ``[n]`` atomic numbers; pos: ``[n, 3]`` positions in Angstrom.

    Returns:
        ``[n, n]`` float64, in the atom order given (so it changes under a permutation of the atoms).
    """
    z, pos = _check_molecule(z, pos)
    Z = z.to(torch.float64)
    R = angstrom_to_bohr(pos.to(torch.float64))
    d = torch.cdist(R, R)  # [n, n], Bohr
    n = Z.numel()
    eye = torch.eye(n, dtype=torch.bool)
    if n > 1 and bool((d[~eye] == 0).any()):
        raise ValueError("pos: two atoms sit at the same position: the Coulomb matrix is infinite")
    off = torch.outer(Z, Z) / torch.where(eye, torch.ones_like(d), d)
    return torch.where(eye, torch.diag_embed(0.5 * Z**2.4), off)


def sorted_coulomb_features(molecules: Sequence, size: int = 23) -> Tensor:
    r"""Sorted Coulomb matrices, zero padded to ``size`` atoms and flattened: ``[M, size * size]`` float64.

    Rows and columns of each :func:`coulomb_matrix` are permuted by decreasing row norm
    :math:`\|C_i\|_2` (stable: ties keep the atom order), so relabelling the atoms leaves the
    features unchanged (up to ties).  All molecules at once: padded ``[M, size, size]`` tensors.

    Args:
        molecules: objects with ``z`` ``[n]`` and ``pos`` ``[n, 3]`` (Angstrom), e.g. a
            :class:`minignn.datasets.MoleculeSet`; size: the padding, >= the largest molecule.
    """
    molecules = list(molecules)
    if not molecules:
        raise ValueError("sorted_coulomb_features needs at least one molecule, got none")
    size = check_int(size, "size", minimum=1)
    M = len(molecules)
    Z = torch.zeros(M, size, dtype=torch.float64)  # padding: Z = 0 gives zero rows and columns
    R = torch.zeros(M, size, 3, dtype=torch.float64)
    for m, mol in enumerate(molecules):
        z, pos = _check_molecule(mol.z, mol.pos)
        n = z.numel()
        if n > size:
            raise ValueError(f"molecule {m} has {n} atoms but size={size}; pass a larger size")
        Z[m, :n], R[m, :n] = z.to(torch.float64), angstrom_to_bohr(pos.to(torch.float64))
    d = torch.cdist(R, R)  # [M, S, S], Bohr
    eye = torch.eye(size, dtype=torch.bool)
    real = (Z[:, :, None] > 0) & (Z[:, None, :] > 0) & ~eye  # pairs of distinct real atoms
    if bool((d[real] == 0).any()):
        raise ValueError("pos: two atoms sit at the same position: the Coulomb matrix is infinite")
    C = torch.where(real, Z[:, :, None] * Z[:, None, :] / torch.where(real, d, torch.ones_like(d)), torch.zeros_like(d))
    C = C + torch.diag_embed(0.5 * Z**2.4)  # [M, S, S]
    order = torch.argsort(-torch.linalg.vector_norm(C, dim=2), dim=1, stable=True)  # [M, S], padding last
    C = torch.take_along_dim(C, order[:, :, None], dim=1)  # sort rows
    C = torch.take_along_dim(C, order[:, None, :], dim=2)  # sort columns
    return C.reshape(M, size * size)


def laplacian_kernel(a: Tensor, b: Tensor, sigma: float) -> Tensor:
    r""":math:`k(a, b) = \exp(-\|a - b\|_1 / \sigma)`, ``[A, D] x [B, D] -> [A, B]``."""
    if isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    sigma = check_number(sigma, "sigma", minimum=0, strict_minimum=True)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be tensors of shapes [A, D] and [B, D], got {list(getattr(a, 'shape', []))} and "
                         f"{list(getattr(b, 'shape', []))}")
    return torch.exp(-torch.cdist(a, b, p=1) / sigma)


class KernelRidge:
    r"""Kernel ridge regression with the Laplacian kernel: :math:`\alpha = (K + \lambda I)^{-1}(y - \bar y)`.

    ``fit(features [G, D], y [G])`` then ``predict(features [G', D]) -> [G']`` (float64).
    """

    def __init__(self, sigma: float, lam: float):
        if isinstance(sigma, (int, float)) and isinstance(lam, (int, float)) and (not sigma > 0 or not lam >= 0):
            raise ValueError(f"need sigma > 0 and lam >= 0, got sigma={sigma}, lam={lam}")
        self.sigma = check_number(sigma, "sigma", minimum=0, strict_minimum=True)
        self.lam = check_number(lam, "lam", minimum=0)
        self.train_x: Tensor | None = None

    def fit(self, x: Tensor, y: Tensor) -> "KernelRidge":
        x, y = _check_xy(x, y)
        self.mean = y.mean()
        K = laplacian_kernel(x, x, self.sigma)
        K.diagonal().add_(self.lam)
        self.alpha = torch.linalg.solve(K, y - self.mean)
        self.train_x = x
        return self

    def predict(self, x: Tensor) -> Tensor:
        if self.train_x is None:
            raise ValueError("KernelRidge.predict called before fit")
        return self.mean + laplacian_kernel(torch.as_tensor(x, dtype=torch.float64), self.train_x, self.sigma) @ self.alpha


def fit_kernel_ridge(x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
                     sigmas: Sequence[float] = (), lams: Sequence[float] = (1e-10, 1e-8, 1e-6, 1e-4, 1e-2),
                     select_size: int | None = None) -> tuple[KernelRidge, dict]:
    r"""Choose :math:`(\sigma, \lambda)` by validation MAE, then fit :class:`KernelRidge` on the training set.

    For each :math:`\sigma`, one eigendecomposition :math:`K = U \Lambda U^\top` gives every
    :math:`\alpha_\lambda = U (\Lambda + \lambda)^{-1} U^\top (y - \bar y)`.  By default
    :math:`\sigma` runs over multiples (1/4 to 16) of the median :math:`L_1` distance between
    training points.  With ``select_size``, the search uses a random subset of that many
    training molecules (seed 0; an eigendecomposition costs :math:`O(G^3)`), the final fit all of them.

    Returns:
        ``(model, info)`` with ``info = {"sigma", "lam", "val_mae", "grid": {(sigma, lam): mae}}``.
    """
    x_train, y_train = _check_xy(x_train, y_train)
    x_val, y_val = _check_xy(x_val, y_val)
    sigmas = [check_number(v, "sigmas[]", minimum=0, strict_minimum=True) for v in sigmas]
    lams = [check_number(v, "lams[]", minimum=0) for v in lams]
    if not lams:
        raise ValueError("lams must hold at least one regularisation strength lambda >= 0")
    if x_val.shape[1] != x_train.shape[1]:
        raise ValueError(f"x_val must have the {x_train.shape[1]} columns of x_train, got {x_val.shape[1]}")
    if select_size is not None:
        select_size = check_int(select_size, "select_size", minimum=1)
    if not sigmas:
        sub = x_train[torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(0))[:500]]
        median = float(torch.cdist(sub, sub, p=1).median())
        sigmas = [median * f for f in (0.25, 1.0, 4.0, 16.0)]
    x_sel, y_sel = x_train, y_train
    if select_size is not None and select_size < x_train.shape[0]:
        keep = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(0))[:select_size]
        x_sel, y_sel = x_train[keep], y_train[keep]
    mean = y_sel.mean()
    grid = {}
    for sigma in sigmas:
        evals, U = torch.linalg.eigh(laplacian_kernel(x_sel, x_sel, sigma))
        proj = U.T @ (y_sel - mean)
        K_val = laplacian_kernel(x_val, x_sel, sigma) @ U  # [V, G]
        for lam in lams:
            pred = mean + K_val @ (proj / (evals + lam))
            grid[(float(sigma), float(lam))] = float((pred - y_val).abs().mean())
    sigma, lam = min(grid, key=grid.get)
    model = KernelRidge(sigma, lam).fit(x_train, y_train)
    return model, {"sigma": sigma, "lam": lam, "val_mae": grid[(sigma, lam)], "grid": grid}


def _check_xy(x, y) -> tuple[Tensor, Tensor]:
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[0] != y.numel():
        raise ValueError(f"features must be [G, D] with G >= 1 and one target per row, got {list(x.shape)} and {y.numel()} targets")
    if not bool(torch.isfinite(x).all()) or not bool(torch.isfinite(y).all()):
        raise ValueError("features and targets must be finite")
    return x, y


def _check_molecule(z, pos) -> tuple[Tensor, Tensor]:
    if not isinstance(z, Tensor) or z.dim() != 1 or z.dtype.is_floating_point or z.numel() == 0:
        raise ValueError(f"z must be a non-empty 1-d integer tensor of atomic numbers, got {getattr(z, 'shape', z)}")
    if not isinstance(pos, Tensor) or pos.shape != (z.numel(), 3):
        raise ValueError(f"pos must have shape [n={z.numel()}, 3], got {list(getattr(pos, 'shape', []))}")
    if not bool(torch.isfinite(pos).all()):
        raise ValueError("pos must be finite, got NaN or inf")
    if bool((z <= 0).any()):
        raise ValueError(f"atomic numbers must be >= 1, got {z.tolist()}")
    return z, pos
