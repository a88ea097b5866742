"""Benchmark: PaiNN (or NequIP, MACE) on QM7 atomization energies, one cross-validation fold, a wall-clock budget on CPU.

    python benchmarks/qm7.py                      # 60 min of training on fold 0, writes RESULTS.md and the checkpoint
    python benchmarks/qm7.py --budget-min 60 --fold 0
    python benchmarks/qm7.py --quick              # 2 min, prints only (writes nothing unless --write)
    python benchmarks/qm7.py --model nequip       # the same fold, protocol and budget for NequIP (or mace)

Protocol: test = fold ``--fold`` of QM7 under ``--folds`` (default ``stratified``: the loader's
energy-stratified folds, identical on every copy of ``qm7.mat``, with or without the published
``P``; ``file`` uses ``P``), train = the four other folds minus a validation tenth
(:func:`minignn.datasets.qm7_split`).  The checkpoint records the split (``info["split"]``: the
fold rule and seed, the indices and their sha256), so the model is always scored on its own
test molecules.  The model is :class:`minignn.painn.PaiNN` (``--model painn``, the default),
:class:`minignn.tfn.NequIP` (``nequip``) or :class:`minignn.mace.MACE` (``mace``) on radius
graphs (``--cutoff`` Angstrom) trained by :class:`minignn.train.Trainer` (composition baseline,
standardised residual, AdamW, L1 loss) with a learning rate that follows a cosine of the
*elapsed wall-clock time* over the budget (:func:`minignn.trainings.fit_qm7`, the training of
``python -m minignn.train qm7``, which also runs under ``torchrun``) (the number of epochs the budget allows is unknown
on a shared machine).  The weights of the best validation epoch are evaluated once on the test
fold.  Baselines on the same split: the training mean, the per-atom linear fit, and kernel
ridge regression with a Laplacian kernel on sorted Coulomb matrices (hyperparameters chosen
on the validation set, :mod:`minignn.baselines`).

Outputs: a table on stdout; the ``qm7`` section of ``benchmarks/RESULTS.md`` (between
``<!-- qm7:begin -->`` and ``<!-- qm7:end -->``, rewritten atomically); the checkpoint
``minignn/checkpoints/qm7_painn.pt`` (float32 weights, config, baseline; read it with
:func:`minignn.painn.load_pretrained`).  With ``--model nequip`` or ``mace``: the section ``qm7_<model>``
(without the baselines, which do not depend on the model; PaiNN's row beside it, read from the ``qm7``
section) and the checkpoint ``minignn/checkpoints/qm7_<model>.pt``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import shlex
import sys
import time

import torch

from minignn import results
from minignn.baselines import composition_baseline, fit_kernel_ridge, mean_baseline, sorted_coulomb_features
from minignn.datasets import load_qm7
from minignn.painn import PRETRAINED_MODELS, PaiNN, PaiNNConfig, load_pretrained, qm7_checkpoint_path, save_pretrained
from minignn.train import Trainer, TrainConfig
from minignn.trainings import fit_qm7

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- qm7:begin -->", "<!-- qm7:end -->"


def log(*args) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}]", *args, flush=True)


def mae(a, b) -> float:
    return float((torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)).abs().mean())


def run_baselines(qm7, train, val, test, krr_select: int) -> dict:
    """Test MAE of the mean, the per-atom linear fit and sorted-Coulomb KRR (kcal/mol)."""
    y = qm7.energies
    out = {"mean": mae(mean_baseline(y[train], len(test)), y[test])}
    counts = torch.nn.functional.one_hot(qm7.molecules.atom_types.index(qm7.molecules.z), len(qm7.molecules.atom_types))
    per_mol = torch.zeros(len(qm7), counts.shape[1], dtype=torch.float64).index_add_(0, qm7.molecules.batch, counts.double())
    out["linear"] = mae(composition_baseline(per_mol[train], y[train], per_mol[test]), y[test])
    t0 = time.perf_counter()
    X = sorted_coulomb_features(qm7.molecules)  # from our positions (Angstrom -> Bohr) and z
    krr, info = fit_kernel_ridge(X[train], y[train], X[val], y[val], select_size=krr_select)
    out["krr"] = mae(krr.predict(X[test]), y[test])
    out["krr_info"] = f"sigma={info['sigma']:.4g}, lambda={info['lam']:.0e} (validation MAE {info['val_mae']:.2f})"
    out["krr_time_s"] = time.perf_counter() - t0
    return out


def section(r: dict) -> str:
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M UTC")
    rows = [("mean of the training set", r["baselines"]["mean"], "-", "-", "-"),
            ("per-atom linear (composition)", r["baselines"]["linear"], "-", "-", str(r["num_types"] + 1)),
            ("KRR, Laplacian kernel, sorted Coulomb matrix", r["baselines"]["krr"], f"{r['baselines']['krr_time_s']:.0f}", "-",
             str(len(r["train"]))),
            (f"PaiNN (this package), {r['config_text']}", r["test_mae"], f"{r['train_time_s']:.0f}", str(r["epochs"]),
             str(r["params"]))]
    table = ["| model | test MAE (kcal/mol) | time (s) | epochs | parameters |", "| --- | --- | --- | --- | --- |"]
    table += [f"| {m} | {v:.2f} | {t} | {e} | {p} |" for m, v, t, e, p in rows]
    return "\n".join([
        BEGIN,
        "## QM7 atomization energies (PaiNN, one fold, CPU budget)",
        "",
        f"- date: {date}",
        f"- command: `{r['command']}`",
        *setting_lines(r),
        f"- training: budget {r['budget_min']:g} min, stopped by {r['stop_reason']}, best validation MAE "
        f"{r['val_mae']:.2f} kcal/mol at epoch {r['best_epoch']}; test RMSE {r['test_rmse']:.2f} kcal/mol",
        f"- KRR hyperparameters: {r['baselines']['krr_info']}",
        f"- checkpoint: `minignn/checkpoints/{r['checkpoint_name']}` ({r['checkpoint_kb']:.0f} kB)",
        "",
        *table,
        "",
        END,
    ])


#: The sizes of each model when its option is not given: PaiNN's are the shipped checkpoint's.  NequIP's and MACE's
#: come from 150-second trials of this protocol on fold 0 (one thread, 2 shared cores, load average about 5; best
#: validation MAE in kcal/mol): NequIP width 32, l_max 1 (35265 parameters) 9.08 after 4 epochs; MACE width 32,
#: l_max 1, correlation 3 (42721) 11.49 after 3; NequIP width 32, l_max 2 (80321) 15.06 after 1; PaiNN (150657)
#: 3.73 after 4.  The shipped NequIP (qm7_nequip.pt) has these defaults.
DEFAULTS = {
    "painn": dict(width=64, layers=3, num_basis=20),
    "nequip": dict(width=32, layers=3, num_basis=8, l_max=1, hidden=32),
    "mace": dict(width=32, layers=2, num_basis=8, l_max=1, hidden=32, correlation=3),
}


def section_name(model: str = "painn") -> str:
    """The RESULTS.md section of ``model``: ``qm7`` for PaiNN (the chapter qm7's), ``qm7_<model>`` otherwise."""
    if model not in PRETRAINED_MODELS:
        raise ValueError(f"model must be one of {list(PRETRAINED_MODELS)}, got {model!r}")
    return "qm7" if model == "painn" else f"qm7_{model}"


def build_model(name: str, num_types: int, args):
    """The model ``name`` with the sizes of ``args`` (a value of None takes :data:`DEFAULTS`); returns
    ``(model, config_text)``."""
    from minignn.mace import MACE, MACEConfig
    from minignn.tfn import NequIP, NequIPConfig

    size = {k: getattr(args, k) if getattr(args, k, None) is not None else v for k, v in DEFAULTS[name].items()}
    if name == "painn":
        model = PaiNN(PaiNNConfig(num_types=num_types, cutoff=args.cutoff, **size))
        return model, f"width {size['width']}, {size['layers']} blocks, cutoff {args.cutoff:g} A, {size['num_basis']} Bessel"
    if name == "nequip":
        model = NequIP(NequIPConfig(num_types=num_types, cutoff=args.cutoff, **size))
        return model, (f"width {size['width']}, l_max {size['l_max']}, {size['layers']} convolutions, cutoff {args.cutoff:g} A, "
                       f"{size['num_basis']} Bessel, radial MLP {size['hidden']}")
    model = MACE(MACEConfig(num_types=num_types, cutoff=args.cutoff, **size))
    return model, (f"width {size['width']}, l_max {size['l_max']}, correlation {size['correlation']}, {size['layers']} layers, "
                   f"cutoff {args.cutoff:g} A, {size['num_basis']} Bessel, radial MLP {size['hidden']}")


def setting_lines(r: dict) -> list[str]:
    """The machine, versions and split lines that every QM7 section states (PaiNN's and the other models')."""
    return [
        f"- machine: {results.cpu_model()}, {os.cpu_count()} logical cores (shared with other jobs), torch threads "
        f"{torch.get_num_threads()}; 1-minute load average {r['load']}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}",
        f"- split: test = fold {r['fold']} ({len(r['test'])} molecules), train {len(r['train'])}, validation "
        f"{len(r['val'])}; folds: {r['folds_source']}",
    ]


def model_section(r: dict, painn: dict) -> str:
    """The ``qm7_<model>`` section of a NequIP or MACE run: its record, and PaiNN's row (``painn``: a row of
    :func:`read_section` of the ``qm7`` section) beside it."""
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M UTC")
    table = ["| model | test MAE (kcal/mol) | time (s) | epochs | parameters |", "| --- | --- | --- | --- | --- |",
             f"| {painn['model']} (section qm7) | {painn['mae']:.2f} | {painn['time_s']} | {painn['epochs']} | {painn['params']} |",
             f"| {r['label']} (this package), {r['config_text']} | {r['test_mae']:.2f} | {r['train_time_s']:.0f} | "
             f"{r['epochs']} | {r['params']} |"]
    return "\n".join([
        f"## QM7 atomization energies ({r['label']}, one fold, CPU budget, beside PaiNN)",
        "",
        f"- date: {date}",
        f"- command: `{r['command']}`",
        *setting_lines(r),
        f"- training: budget {r['budget_min']:g} min, stopped by {r['stop_reason']}, {r['steps']} steps in {r['epochs']} epochs, "
        f"best validation MAE {r['val_mae']:.2f} kcal/mol at epoch {r['best_epoch']}; test MAE {r['test_mae']:.2f} kcal/mol, "
        f"test RMSE {r['test_rmse']:.2f} kcal/mol",
        f"- PaiNN on the same split and budget (section qm7): test MAE {painn['mae']:.2f} kcal/mol, {painn['time_s']} s, "
        f"{painn['epochs']} epochs",
        f"- checkpoint: `minignn/checkpoints/{r['checkpoint_name']}` ({r['checkpoint_kb']:.0f} kB)",
        "",
        *table,
    ])


def write_section(text: str, path: pathlib.Path = RESULTS, name: str = "qm7") -> None:
    """Replace the section ``name`` (``qm7``, or ``qm7_<model>``: :func:`section_name`) of ``path`` (or append it),
    atomically; the rest is left untouched."""
    results.write_section(name, text.replace(BEGIN, "").replace(END, ""), path)


def read_section(path: pathlib.Path = RESULTS, name: str = "qm7") -> dict:
    """Parse the qm7 section (or ``qm7_<model>``, :func:`section_name`; for the book):
    ``{"meta": {key: value}, "rows": [{model, mae, time_s, epochs, params}]}``."""
    body = results.read_section(name, path)
    meta, rows = results.section_fields(body), []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and cells[1][:1].isdigit():
            rows.append(dict(model=cells[0], mae=float(cells[1]), time_s=cells[2], epochs=cells[3], params=cells[4]))
    return {"meta": meta, "rows": rows}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=PRETRAINED_MODELS, default="painn",
                   help="painn (the qm7 section and qm7_painn.pt), nequip or mace (section and checkpoint qm7_<model>)")
    p.add_argument("--budget-min", type=float, default=60.0, help="wall-clock training budget (minutes)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--folds", choices=["stratified", "file", "auto"], default="stratified",
                   help="which folds: 'stratified' (deterministic from the energies, the same on every copy of qm7.mat; "
                   "the shipped checkpoint's), 'file' (the published P; the file must have it), 'auto' (P if present)")
    p.add_argument("--quick", action="store_true", help="2-minute budget, writes nothing unless --write")
    p.add_argument("--write", action="store_true", help="with --quick: still write RESULTS.md and the checkpoint")
    p.add_argument("--checkpoint", default=None, help="default: minignn/checkpoints/qm7_<model>.pt")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared 2-core machine two threads were ~10x slower, measured)")
    p.add_argument("--width", type=int, default=None, help="default: 64 (painn), 32 (nequip, mace)")
    p.add_argument("--layers", type=int, default=None, help="default: 3 (painn, nequip), 2 (mace)")
    p.add_argument("--num-basis", type=int, default=None, help="default: 20 (painn), 8 (nequip, mace)")
    p.add_argument("--l-max", type=int, default=None, help="nequip, mace: largest degree (default 1)")
    p.add_argument("--hidden", type=int, default=None, help="nequip, mace: width of the radial MLP (default 32)")
    p.add_argument("--correlation", type=int, default=None, help="mace: body order minus one per layer (default 3)")
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=["l1", "mse"], default="l1")
    p.add_argument("--krr-select", type=int, default=2000, help="training molecules used to choose the KRR hyperparameters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=str(RESULTS),
                   help="the shared results file (only the model's section, qm7 or qm7_<model>, is rewritten)")
    args = p.parse_args(argv)
    extra = [f"--{k.replace('_', '-')}" for k in ("l_max", "hidden", "correlation")
             if getattr(args, k) is not None and k not in DEFAULTS[args.model]]
    if extra:
        p.error(f"{', '.join(extra)} does not apply to --model {args.model}")
    label = {"painn": "PaiNN", "nequip": "NequIP", "mace": "MACE"}[args.model]
    budget_min = 2.0 if args.quick and args.budget_min == 60.0 else args.budget_min
    write = not args.quick or args.write
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    command = " ".join(["python benchmarks/qm7.py"] + [shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])])

    qm7 = load_qm7(folds=args.folds)  # honours $MINIGNN_DATA
    train, val, test = qm7.split(args.fold)
    log(f"{qm7}; fold {args.fold}: train {len(train)}, val {len(val)}, test {len(test)}; folds: {qm7.folds_source}")
    graphs = qm7.graphs(cutoff=args.cutoff)
    pick = lambda idx: [graphs[i] for i in idx.tolist()]  # noqa: E731

    num_types = len(qm7.molecules.atom_types)
    model, config_text = build_model(args.model, num_types, args)
    params = sum(p.numel() for p in model.parameters())
    log(f"{label} {model.config}: {params} parameters; budget {budget_min:g} min, threads {torch.get_num_threads()}")
    budget_s = 60 * budget_min
    cfg = TrainConfig(max_epochs=100_000, batch_size=args.batch_size, lr=args.lr, weight_decay=0.0, loss=args.loss,
                      patience=None, max_time_s=budget_s, num_types=num_types, eval_batch_size=512, seed=args.seed,
                      progress=False)
    trainer = Trainer(model, pick(train), pick(val), cfg)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    # one epoch per call, logged; the learning rate follows the elapsed time; the Trainer stops mid-epoch at the
    # budget (the training of `python -m minignn.train qm7 --budget-min ...`, minignn.trainings.fit_qm7)
    h = fit_qm7(trainer, budget_s, log=log)
    train_time = time.perf_counter() - t0
    load_end = os.getloadavg()[0]
    stop_reason = "time_budget" if h.stop_reason in ("paused", "time_budget") else h.stop_reason
    model.load_state_dict(trainer.best_state)  # the best validation epoch
    test_scores = trainer.evaluate(pick(test))
    log(f"test MAE {test_scores['mae']:.3f} kcal/mol (RMSE {test_scores['rmse']:.3f}) after {len(h)} epochs, "
        f"{train_time / 60:.1f} min; best validation MAE {trainer.best_val:.3f} at epoch {h.best_epoch}")

    if args.model == "painn":
        log("baselines (mean, per-atom linear, KRR on sorted Coulomb matrices) ...")
        base = run_baselines(qm7, train, val, test, args.krr_select)
        log(f"baselines: mean {base['mean']:.2f}, linear {base['linear']:.2f}, KRR {base['krr']:.2f} ({base['krr_info']})")
    else:
        base = None  # the same split's baselines are in the qm7 section

    ckpt = pathlib.Path(args.checkpoint) if args.checkpoint else qm7_checkpoint_path(args.model)
    info = {"dataset": "QM7", "units": "kcal/mol", "cutoff": args.cutoff, "atom_types": list(qm7.molecules.atom_types.elements), "fold": args.fold, "folds_source": qm7.folds_source,
            "split": qm7.split_record(args.fold), "test_mae": test_scores["mae"], "test_rmse": test_scores["rmse"], "val_mae": trainer.best_val,
            "epochs": len(h), "steps": trainer.step, "best_epoch": h.best_epoch, "train_time_s": train_time, "command": command,
            "val_mae_history": list(h.val_mae), "train_loss_history": list(h.train_loss)}
    result = dict(command=command, fold=args.fold, folds_source=qm7.folds_source, train=train, val=val, test=test,
                  budget_min=budget_min, stop_reason=stop_reason, val_mae=trainer.best_val, best_epoch=h.best_epoch,
                  test_mae=test_scores["mae"], test_rmse=test_scores["rmse"], train_time_s=train_time, epochs=len(h),
                  steps=trainer.step, params=params, num_types=num_types, baselines=base, checkpoint_name=ckpt.name,
                  checkpoint_kb=0.0, load=f"{load_start:.1f} at the start, {load_end:.1f} at the end of training",
                  model=args.model, label=label, config_text=config_text)
    print()
    print(f"{'model':<48} {'test MAE (kcal/mol)':>20}")
    lines = [(label, test_scores["mae"])]
    if base is not None:
        lines = [("mean", base["mean"]), ("per-atom linear", base["linear"]), ("KRR sorted Coulomb", base["krr"])] + lines
    for name, value in lines:
        print(f"{name:<48} {value:>20.2f}")
    if test_scores["mae"] < 2.0:
        print("\n*** TEST MAE BELOW 2.0 kcal/mol ***\n")
    if write:
        save_pretrained(ckpt, model, trainer.baseline, trainer.standardizer, info)
        ckpt.chmod(0o644)  # readable by everyone, as a package file should be
        result["checkpoint_kb"] = ckpt.stat().st_size / 1024
        again = load_pretrained(ckpt, model=args.model).predict(pick(test))
        check = mae(again, qm7.energies[test])
        log(f"checkpoint {ckpt} ({result['checkpoint_kb']:.0f} kB) reloads with weights_only=True: test MAE {check:.3f}")
        name = section_name(args.model)
        if args.model == "painn":
            write_section(section(result), pathlib.Path(args.results))
        else:  # PaiNN's figure beside it, read from the qm7 section of the same file
            painn = next(row for row in read_section(pathlib.Path(args.results))["rows"] if row["model"].startswith("PaiNN"))
            write_section(model_section(result, painn), pathlib.Path(args.results), name)
        log(f"wrote the {name} section of {args.results}")
    return result


if __name__ == "__main__":
    main()
