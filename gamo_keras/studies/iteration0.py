"""What a GAMO run computes up to its first evaluation ("iteration 0"), as sha256 digests, so that two
machines (or two kernel settings on one machine) can be compared stage by stage.

    cd gamo_keras
    python studies/iteration0.py --json docs/iteration0/fashion_default.json \
        --arrays runs/iteration0/fashion_default.npz \
        -- --dataset fashion --protocol dgc --split-seed 1 --seed 0 --budget quick
    TF_ENABLE_ONEDNN_OPTS=1 python studies/iteration0.py --json docs/iteration0/fashion_onednn_on.json \
        --arrays runs/iteration0/fashion_onednn_on.npz --compare docs/iteration0/fashion_default.json \
        -- --dataset fashion --protocol dgc --split-seed 1 --seed 0 --budget quick
    python studies/iteration0.py --reuse --json b.json --arrays b.npz --compare a.json   # compare only

Everything after ``--`` is a ``run.py`` command line: it is parsed and resolved by ``run.py``'s own skeleton and
``configure``, the split read with ``shared_data.splits``, the data prepared by ``gamo.pipeline.prepare_split``
and the trainer built by ``gamo.train.Trainer`` with its ``init_state``; then the actions of
``gamo.schedule.plan`` run, through the trainer's own methods, up to and including the first evaluation (the one
logged at iteration 0: it comes after iteration 0's updates and, for the conv variant, after outer epoch 0).

The JSON holds digests of

- ``data``: the prepared arrays (training images after the shuffle, labels, test set);
- ``initial``: every model's initial weights, per variable (F, M, D, the cTMU's trainables ``C``, its BN moving
  statistics ``Cn``, each call site's zero-debiasing variables ``Cb/<site>``, each IGU ``I<k>``);
- ``draws``: the random numbers the run actually drew (recorded from ``gamo.data.epoch_permutation`` and
  ``gamo.data.random_chunk`` as the trainer called them): outer epoch 0's permutation (F's batches) and
  iteration 0's batch rows, fake labels, noise ``z_fake``/``z_gen`` and target smoothing ``u_real``/``u_fake``;
- ``first_update``: the weights after the run's first single Adam step (conv variant: F's update on the first
  batch of outer epoch 0, computed with the trainer's compiled epoch function on one batch), with F's gradient
  recovered exactly from Adam's first moment (m = (1 - beta_1) g);
- ``f_epoch0_trajectory`` (conv variant): F after 1, 2, 5, 10, 30, 100 batches of outer epoch 0 (``--trajectory``)
  and after the whole epoch, run piece by piece with the same compiled functions (the JSON says whether the
  pieces end bit-identical to the run's epoch);
- ``after_f_epoch0`` (conv variant): the weights after outer epoch 0 and the features of the training images;
- ``after_iteration0``: the weights (and the optimiser state) after iteration 0's updates;
- ``evaluation``: the iteration-0 evaluation's softmax outputs and predictions (test and training set), and the
  test accuracy and ACSA scored as the run scores them (``shared_data.metrics`` on original labels).

``--arrays FILE.npz`` keeps the arrays themselves (several MB; not meant for the repository); ``--compare
OTHER.json`` finds OTHER's arrays file by its name, next to this study's arrays file or next to OTHER.json
(``--compare-arrays`` names it directly), and adds a ``compare`` section: which digests match, and per model and
stage the fraction of parameters that differ, the largest absolute difference, and, for the first update, how
the two Adam steps and gradients of the differing parameters relate (opposite signs, size relative to lr).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV_KEYS = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "XLA_FLAGS", "KERAS_BACKEND",
            "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "CUDA_VISIBLE_DEVICES")
TRAJECTORY = (1, 2, 5, 10, 30, 100)  # F after this many batches of outer epoch 0 (and after the whole epoch)
CPU_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
             "amx_tile", "amx_bf16", "amx_int8")


# -- digests ---------------------------------------------------------------------------------------------------

def digest(a) -> str:
    """sha256 of an array's dtype, shape and bytes (C order)."""
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def combined(digests) -> str:
    return hashlib.sha256("|".join(digests).encode()).hexdigest()


def model_arrays(game, p) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The parameter pytree ``p`` of a state as {model: [(variable name, array), ...]}, in the state's order."""
    from gamo import nets

    def named(vars_, arrays):
        names = [v.path for v in vars_]
        if len(names) != len(arrays):
            raise RuntimeError(f"{len(names)} variables, {len(arrays)} arrays")
        return list(zip(names, [np.asarray(a) for a in arrays]))

    out = {"M": named(game.M.trainable_variables, p["M"])}
    if "F" in p:
        out["F"] = named(game.F.trainable_variables, p["F"])
    if "D" in p:
        out["D"] = named(game.D.trainable_variables, p["D"])
        out["C"] = named(game.G.trainable_variables, p["C"])
        nt = game.G.non_trainable_variables
        out["Cn"] = named([v for v in nt if v.name not in nets.BN_SITE_VARIABLES], p["Cn"])
        site_vars = [v for v in nt if v.name in nets.BN_SITE_VARIABLES]
        for site, arrays in p["Cb"].items():
            out[f"Cb/{site}"] = named(site_vars, arrays)
        for k, (igu, arrays) in enumerate(zip(game.IGU, p["I"])):
            out[f"I{k}"] = named(igu.trainable_variables, arrays)
    return out


def model_digests(models: dict) -> dict:
    return {m: {"digest": combined([digest(a) for _, a in vs]), "parameters": int(sum(a.size for _, a in vs)),
                "variables": {n: digest(a) for n, a in vs}} for m, vs in models.items()}


def flat(models: dict, prefix: str) -> dict[str, np.ndarray]:
    """{prefix/model/variable: array} for the arrays file."""
    return {f"{prefix}|{m}|{n}": a for m, vs in models.items() for n, a in vs}


# -- the machine ---------------------------------------------------------------------------------------------------

def environment() -> dict:
    import keras
    import tensorflow as tf

    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:  # whether TensorFlow's oneDNN kernels are in use (its default depends on the CPU's features)
        from tensorflow.python.util import _pywrap_util_port
        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        onednn = None
    return {"cpu": model, "cpu_flags": sorted(f for f in CPU_FLAGS if f in flags), "machine": platform.machine(),
            "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "onednn_ops_enabled": onednn}


# -- the study -------------------------------------------------------------------------------------------------------

def study(run_argv: list[str], arrays_out: Path | None, trajectory=TRAJECTORY) -> dict:
    import run as run_py  # run.py of this folder: its skeleton parses and resolves the command as a run does
    from shared_data import quiet, skeleton, splits

    from gamo import config

    (args, cfg), *more = skeleton.commands(run_py.METHOD, run_argv)
    if more:
        raise SystemExit("one command line, not a grid")
    (split_seed, seed), *more = skeleton.pairs(run_py.METHOD, args)
    if more:
        raise SystemExit("one (split seed, seed) pair, not several")
    with quiet.framework_import():
        from gamo import backend, pipeline
        from gamo import data as gdata
        from gamo.schedule import plan
        from gamo.train import Trainer
    from shared_data import metrics

    times = {}
    t0 = time.perf_counter()
    # as gamo.entry.run and gamo.pipeline.train_and_score build a run's trainer
    backend.check()
    gcfg = config.of(cfg)
    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror)
    prep = pipeline.prepare_split(gcfg, split, seed)
    trainer = Trainer(gcfg, prep, seed, None, progress=False)
    trainer.init_state()
    times["build"] = time.perf_counter() - t0

    # record the random numbers the trainer draws, as it draws them
    drawn = {"perm": {}, "chunk": {}}
    real_perm, real_chunk = gdata.epoch_permutation, gdata.random_chunk

    def epoch_permutation(seed_, epoch, n):
        out = real_perm(seed_, epoch, n)
        drawn["perm"][int(epoch)] = out
        return out

    def random_chunk(seed_, start, length, *a, **kw):
        out = real_chunk(seed_, start, length, *a, **kw)
        drawn["chunk"][int(start)] = (int(length), out)
        return out

    gdata.epoch_permutation, gdata.random_chunk = epoch_permutation, random_chunk

    game, lr = trainer.game, float(gcfg.learning_rate)
    init = backend.to_numpy(trainer.state)
    arrays: dict[str, np.ndarray] = {}
    init_models = model_arrays(game, init["p"])
    arrays.update(flat(init_models, "initial"))
    res = {"data": {"x_train": digest(prep.x_train), "y_train": digest(prep.y_train), "x_test": digest(prep.x_test),
                    "y_test": digest(prep.y_test), "shuffle": digest(prep.shuffle)},
           "initial": model_digests(init_models)}

    actions = []
    ev = None
    first_update = None
    try:
        for act in plan(trainer.schedule, 0):
            actions.append(list(act))
            t = time.perf_counter()
            if act[0] == "epoch":
                trainer.f_epoch(act[1])
                times[f"f_epoch{act[1]}"] = time.perf_counter() - t
                if act[1] == 0:
                    first_update = _first_f_update(trainer, init, drawn["perm"][0], trajectory)
                    p = backend.to_numpy(trainer.state["p"])
                    m = model_arrays(game, p)
                    arrays.update(flat(m, "after_f_epoch0"))
                    feats = backend.to_numpy(trainer.x)
                    res["after_f_epoch0"] = {"models": model_digests(m), "train_features": digest(feats)}
            elif act[0] == "run":
                trainer.run_segment(act[1], act[2], act[3])
                times[f"run_{act[1]}_{act[2]}"] = time.perf_counter() - t
            elif act[0] == "save":
                pass  # the study writes no checkpoint
            elif act[0] in ("eval", "final"):
                ev = trainer.evaluate(act[1])
                times["evaluate"] = time.perf_counter() - t
                break
    finally:
        gdata.epoch_permutation, gdata.random_chunk = real_perm, real_chunk
    if ev is None:
        raise RuntimeError("the plan has no evaluation")

    state = backend.to_numpy(trainer.state)
    after = model_arrays(game, state["p"])
    arrays.update(flat(after, "after_iteration0"))
    opt = [digest(a) for a in __import__("keras").tree.flatten(state["o"])]
    res["after_iteration0"] = {"iterations_done": trainer.iteration, "models": model_digests(after),
                               "adam_state": combined(opt)}
    if first_update is not None:
        fu_models, grads, what, traj, same_end = first_update
        arrays.update(flat(fu_models, "first_update"))
        arrays.update({f"first_update_grad|F|{n}": g for n, g in grads})
        res["first_update"] = {"what": what, "models": model_digests(fu_models),
                               "F_gradient": {n: digest(g) for n, g in grads}}
        for n, vs in traj.items():
            arrays.update(flat({"F": vs}, f"f_epoch0_after_{n:03d}_batches"))
        res["f_epoch0_trajectory"] = {
            "batches": sorted(traj), "F": {str(n): combined([digest(a) for _, a in vs]) for n, vs in traj.items()},
            "pieces_end_where_the_run_epoch_ends": bool(same_end)}

    # the draws
    d = {}
    if 0 in drawn["perm"]:
        perm = drawn["perm"][0]
        d["f_epoch0_permutation"] = digest(perm)
        d["f_epoch0_first_batch"] = perm[:gcfg.batch_size].tolist()
        arrays["draws|f_epoch0_permutation"] = perm
    length, ch = drawn["chunk"][0]
    it0 = {k: (v[0] if k != "row0" else v[:1]) for k, v in ch.arrays().items()}
    n_rows = len(prep.y_train)
    rows = np.minimum(int(ch.row0[0]) + np.arange(gcfg.batch_size), n_rows - 1)
    d["iteration0"] = {k: digest(v) for k, v in it0.items()}
    d["iteration0_batch_rows"] = rows.tolist()
    d["iteration0_chunk_length"] = length
    arrays.update({f"draws|iteration0|{k}": v for k, v in it0.items()})
    res["draws"] = d

    # the evaluation, scored as gamo.pipeline.train_and_score's on_eval scores it
    y_test_orig = np.asarray(split.y_test)
    y_train_orig = gdata.to_original_labels(prep.y_train, prep.order)
    pred_te, pred_tr = ev.test_prob.argmax(1), ev.train_prob.argmax(1)
    m_te = metrics.compute(y_test_orig, gdata.to_original_labels(pred_te, prep.order), train_counts=split.train_counts)
    m_tr = metrics.compute(y_train_orig, gdata.to_original_labels(pred_tr, prep.order),
                           train_counts=split.train_counts)
    res["evaluation"] = {"step": int(ev.step), "test_accuracy": float(m_te["accuracy"]),
                         "test_acsa": float(m_te["acsa"]), "train_accuracy": float(m_tr["accuracy"]),
                         "test_prob": digest(ev.test_prob), "test_pred": digest(pred_te),
                         "train_prob": digest(ev.train_prob), "train_pred": digest(pred_tr)}
    if trainer._test_features is not None:
        res["evaluation"]["test_features"] = digest(backend.to_numpy(trainer._test_features))
    arrays.update({"eval|test_prob": ev.test_prob, "eval|train_prob": ev.train_prob})
    times["total"] = time.perf_counter() - t0
    res["actions_to_first_evaluation"] = actions
    res["learning_rate"] = lr
    res["adam"] = {"learning_rate": lr, "beta_1": float(gcfg.beta_1), "beta_2": float(gcfg.beta_2),
                   "epsilon": float(gcfg.adam_epsilon)}
    res["timings_s"] = {k: round(v, 2) for k, v in times.items()}
    res["command"] = run_argv
    if arrays_out is not None:
        arrays_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(arrays_out, **arrays)
        res["arrays_file"] = arrays_out.name
    return res


def _first_f_update(trainer, init, perm, trajectory=TRAJECTORY):
    """The run's first single update for the conv variant, F on the first batch of outer epoch 0, and F along
    the rest of that epoch: the trainer's own compiled epoch functions (built by ``f_epoch``, which runs batches
    start..start+n-1 of the epoch's permutation) run piece by piece from the initial state. Returns (models after
    the first update, F's gradient of that update, what, {batches done: F}, whether the pieces end where the
    run's epoch ended)."""
    from gamo import backend

    cfg = trainer.cfg
    if cfg.joint_feature_training:
        return None
    bs = cfg.batch_size
    full = trainer.n_batches - (1 if trainer.last != bs else 0)
    i32 = lambda v: backend.to_device(np.int32(v))  # noqa: E731
    images, y, dperm = trainer.images, trainer.y, backend.to_device(perm)
    fn = trainer._fns[("fepoch", bs)]
    state, done, traj = backend.to_device(init), 0, {}
    first = None
    for stop in sorted({n for n in trajectory if 0 < n < full}) + [full]:
        state = fn(state, images, y, dperm, i32(done), i32(stop - done), i32(bs))
        done = stop
        if done == 1:
            first = backend.to_numpy(state)
        traj[done] = model_arrays(trainer.game, backend.to_numpy(state["p"]))["F"]
    if trainer.last != bs:
        fn_s = trainer._fns[("fepoch", trainer.last)]
        state = fn_s(state, images, y, dperm, i32(full), i32(1), i32(bs))
        done += 1
        traj[done] = model_arrays(trainer.game, backend.to_numpy(state["p"]))["F"]
    end = combined([digest(a) for _, a in traj[done]])
    run_end = combined([digest(a) for _, a in model_arrays(trainer.game, backend.to_numpy(trainer.state["p"]))["F"]])
    models = model_arrays(trainer.game, first["p"])
    beta_1 = float(cfg.beta_1)
    names = [n for n, _ in models["F"]]
    grads = [(n, np.asarray(m) / np.float32(1.0 - beta_1)) for n, m in zip(names, first["o"]["m"]["F/F"])]
    what = ("F's Adam step on the first batch of outer epoch 0 (the shared counter's first step); the gradient "
            "is Adam's first moment / (1 - beta_1)")
    return models, grads, what, traj, end == run_end


# -- comparing two studies -----------------------------------------------------------------------------------------

def _walk(a, b, path=""):
    """(path, equal) for every digest string present in both trees."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k in b:
                yield from _walk(a[k], b[k], f"{path}/{k}" if path else k)
    elif isinstance(a, str) and isinstance(b, str) and len(a) == 64:
        yield path, a == b
    elif isinstance(a, list) and isinstance(b, list) and path.endswith(("first_batch", "batch_rows")):
        yield path, a == b


def _quantiles(x):
    if x.size == 0:
        return None
    q = np.quantile(x, [0.5, 0.9, 1.0])
    return {"median": float(q[0]), "p90": float(q[1]), "max": float(q[2])}


def _compare_models(za, zb, stage, lr, init=("initial", "initial"), per_variable=False):
    out = {}
    models = sorted({k.split("|")[1] for k in za.files if k.startswith(stage + "|")})
    for m in models:
        keys = [k for k in za.files if k.startswith(f"{stage}|{m}|")]
        a = np.concatenate([za[k].ravel().astype(np.float64) for k in keys])
        b = np.concatenate([zb[k].ravel().astype(np.float64) for k in keys])
        a0 = np.concatenate([za[k.replace(stage, init[0], 1)].ravel().astype(np.float64) for k in keys])
        b0 = np.concatenate([zb[k.replace(stage, init[1], 1)].ravel().astype(np.float64) for k in keys])
        diff = a != b
        n, nd = a.size, int(diff.sum())
        row = {"parameters": n, "differ": nd, "fraction_differ": nd / n,
               "max_abs_diff": float(np.abs(a - b).max()) if n else 0.0,
               "max_abs_diff_over_lr": float(np.abs(a - b).max()) / lr if n else 0.0,
               "moved_from_initial_over_lr_all": _quantiles(np.abs(a - a0) / lr)}
        if nd:
            da, db = (a - a0)[diff], (b - b0)[diff]
            gap = np.abs(a - b)[diff] / lr
            row.update({
                "abs_diff_over_lr": _quantiles(gap),
                "share_abs_diff_at_least_half_lr": float((gap >= 0.5).mean()),
                "moved_from_initial_over_lr": _quantiles(np.abs(da) / lr),
                "share_opposite_sign_moves": float((da * db < 0).mean()),
            })
        if per_variable:
            row["max_abs_diff_over_lr_per_variable"] = {
                k.split("|", 2)[2]: float(np.abs(za[k].astype(np.float64) - zb[k]).max()) / lr for k in keys}
        out[m] = row
    return out


def _compare_gradients(za, zb, eps_scale):
    """F's gradient of the first update on both sides. ``eps_scale`` = epsilon / sqrt(1 - beta_2): Adam's first
    step is lr * g / (|g| + eps_scale), about lr * sign(g) only where |g| is well above it."""
    keys = [k for k in za.files if k.startswith("first_update_grad|")]
    if not keys:
        return None
    ga = np.concatenate([za[k].ravel().astype(np.float64) for k in keys])
    gb = np.concatenate([zb[k].ravel().astype(np.float64) for k in keys])
    per_var_rms = np.concatenate([np.full(za[k].size, np.sqrt(np.mean(za[k].astype(np.float64) ** 2)))
                                  for k in keys])
    flip = np.sign(ga) != np.sign(gb)
    same = ga == gb
    rel = np.abs(ga - gb) / np.maximum(np.abs(ga), 1e-30)
    out = {"components": int(ga.size), "identical": int(same.sum()), "fraction_identical": float(same.mean()),
           "relative_difference_all": _quantiles(rel[~same]) if (~same).any() else None,
           "sign_differs": int(flip.sum()), "fraction_sign_differs": float(flip.mean())}
    if flip.any():
        out["sign_differs_abs_gradient_over_variable_rms"] = _quantiles(np.abs(ga[flip]) / per_var_rms[flip])
        out["sign_differs_abs_gradient"] = _quantiles(np.abs(ga[flip]))
    out["all_abs_gradient_over_variable_rms"] = _quantiles(np.abs(ga) / per_var_rms)
    out["all_abs_gradient"] = _quantiles(np.abs(ga))
    out["share_abs_gradient_below_eps_over_sqrt_1_minus_beta_2"] = float((np.abs(ga) < eps_scale).mean())
    return out


def compare(mine: dict, other: dict, mine_arrays: Path | None, other_arrays: Path | None, other_name: str) -> dict:
    match = dict(_walk(mine, other))
    groups = {}
    for path, eq in match.items():
        top = path.split("/")[0]
        if top in ("compare", "environment"):
            continue
        groups.setdefault(top, []).append(eq)
    out = {"other": other_name, "other_environment": other.get("environment"),
           "all_match": {k: all(v) for k, v in groups.items()},
           "differing_digests": sorted(p for p, eq in match.items() if not eq
                                       and p.split("/")[0] not in ("compare", "environment")),
           "evaluation": {k: [mine["evaluation"].get(k), other["evaluation"].get(k)]
                          for k in ("test_accuracy", "test_acsa", "train_accuracy")}}
    if len(out["differing_digests"]) > 60:
        n = len(out["differing_digests"])
        out["differing_digests"] = out["differing_digests"][:60] + [f"... {n - 60} more"]
    if mine_arrays is None or other_arrays is None:
        out["arrays"] = "not compared (an arrays file is missing)"
        return out
    lr = float(mine["learning_rate"])
    with np.load(mine_arrays) as za, np.load(other_arrays) as zb:
        stages = [s for s in ("first_update", "after_f_epoch0", "after_iteration0")
                  if any(k.startswith(s + "|") for k in za.files)]
        out["weights"] = {s: _compare_models(za, zb, s, lr) for s in stages}
        traj = sorted({k.split("|")[0] for k in za.files if k.startswith("f_epoch0_after_")})
        if traj:
            out["f_epoch0_trajectory"] = {
                t.split("_")[3].lstrip("0"): _compare_models(za, zb, t, lr, per_variable=True)["F"] for t in traj}
        eps_scale = float(mine["adam"]["epsilon"]) / np.sqrt(1.0 - float(mine["adam"]["beta_2"]))
        g = _compare_gradients(za, zb, eps_scale)
        if g is not None:
            out["first_update_F_gradient"] = g
        pa, pb = za["eval|test_prob"], zb["eval|test_prob"]
        out["evaluation"]["test_predictions_differ"] = int((pa.argmax(1) != pb.argmax(1)).sum())
        out["evaluation"]["test_prob_max_abs_diff"] = float(np.abs(pa - pb).max())
    return out


PATH_FLAGS = ("--data-root", "--out", "--mirror", "--grid")


def public_command(argv: list[str]) -> list[str]:
    """The run.py command as stored in the JSON: the values of path flags replaced by ``<path>`` (they name
    folders of the machine, not settings)."""
    out, hide = [], False
    for a in argv:
        if hide:
            out.append("<path>")
            hide = False
        elif a in PATH_FLAGS:
            out.append(a)
            hide = True
        elif a.split("=", 1)[0] in PATH_FLAGS and "=" in a:
            out.append(a.split("=", 1)[0] + "=<path>")
        else:
            out.append(a)
    return out


def _find_arrays(name: str | None, *folders) -> Path | None:
    if not name:
        return None
    for f in folders:
        if f is not None and (Path(f) / name).exists():
            return Path(f) / name
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    run_argv = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True, type=Path, help="the study's JSON (written; read with --reuse)")
    p.add_argument("--arrays", type=Path, default=None, help="NPZ of the arrays behind the digests (written)")
    p.add_argument("--label", default=None, help="a name for this setting, stored in the JSON")
    p.add_argument("--compare", type=Path, default=None, help="another study's JSON to compare with")
    p.add_argument("--compare-arrays", type=Path, default=None, help="that study's NPZ (default: found by name)")
    p.add_argument("--trajectory", type=lambda v: tuple(int(x) for x in v.split(",")), default=TRAJECTORY,
                   help="conv variant: keep F after these numbers of batches of outer epoch 0 (comma-separated; "
                        f"default {','.join(map(str, TRAJECTORY))}; F after the whole epoch is always kept)")
    p.add_argument("--reuse", action="store_true",
                   help="do not run: read --json (and --arrays) as written earlier and only add the comparison")
    a = p.parse_args(own)
    if a.reuse:
        res = json.loads(a.json.read_text())
        if a.arrays is None and res.get("arrays_file"):
            a.arrays = _find_arrays(res["arrays_file"], a.json.parent)
    else:
        if not run_argv:
            p.error("give the run.py command after --")
        res = {"study": "iteration0", "label": a.label}
        res.update(study(run_argv, a.arrays, a.trajectory))
        res["environment"] = environment()
    if a.compare is not None:
        other = json.loads(a.compare.read_text())
        other_arrays = a.compare_arrays or _find_arrays(other.get("arrays_file"),
                                                        a.arrays.parent if a.arrays else None, a.compare.parent)
        res["compare"] = compare(res, other, a.arrays, other_arrays, a.compare.name)
    res["command"] = public_command(res.get("command", []))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=1, sort_keys=False) + "\n")
    ev = res["evaluation"]
    print(f"{a.json}: test accuracy {ev['test_accuracy']:.4f}, ACSA {ev['test_acsa']:.4f} at step {ev['step']}"
          f" (oneDNN ops {res['environment'].get('onednn_ops_enabled')})")
    if "compare" in res:
        print(json.dumps({k: res["compare"][k] for k in ("all_match", "evaluation")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
