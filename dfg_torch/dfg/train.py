"""The stages of a DFG run (opensuh/DFG@fa1218f ``train.py``), each resuming from the previous one's files in the
same run folder:

    source        LeNet-5 on a 10-class source (EMNIST digits if present in the data root, else MNIST)
    channel-eval  filter importance -> generator attention (K x C), extractor and classifier channel weights
    train         DFG's GAN phase (model dfg) or a baseline's plain training (original, fine-tuning, delta)
    eval          the final model on the test set; result.json with the reported (best / final / val) model
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from shared_data import errors

from . import channel_eval as ce
from . import losses, nets
from .data import BatchSampler, stratified_holdout, to_tensor


class StageError(errors.RunFolderError):
    """A stage cannot run (its predecessor's files are missing, a checkpoint is unreadable...)."""


class Interrupted(errors.RunStopped):
    """Training stopped at a checkpoint on purpose (``stop_after``); the same command resumes it."""


MODELS = ("dfg", "original", "fine-tuning", "delta")
NEEDS_SOURCE = {"dfg": True, "delta": True, "fine-tuning": True, "original": False}
NEEDS_CHANNEL_EVAL = {"dfg": True, "delta": True, "fine-tuning": False, "original": False}


def missing_predecessor(run_path: Path, model: str, stage: str) -> str | None:
    """The one-line reason why ``stage`` cannot run yet in ``run_path``, or None."""
    need = []
    if stage == "channel-eval":
        need = [("checkpoints/source.pt", "source")]
    elif stage == "train":
        need = ([("checkpoints/source.pt", "source")] if NEEDS_SOURCE[model] else []) + \
               ([("channel_eval.json", "channel-eval")] if NEEDS_CHANNEL_EVAL[model] else [])
    elif stage == "eval":
        need = [("checkpoints/final.pt", "train")]
    for rel, pred in need:
        if not (run_path / rel).exists():
            return f"--stage {stage} needs {run_path / rel}: run the {pred} stage first"
    if stage == "channel-eval" and not NEEDS_CHANNEL_EVAL[model]:
        return f"model {model} has no channel-eval stage"
    if stage == "source" and not NEEDS_SOURCE[model]:
        return f"model {model} has no source stage (it trains from scratch)"
    return None


def atomic_torch_save(obj, path: Path) -> None:
    """Write ``obj`` next to ``path`` and rename it into place: a full disk or a size limit leaves the previous
    file whole and no temporary file behind (the OSError goes up to run.py's one-line message)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _load(path: Path, what: str):
    """A checkpoint of this port. ``weights_only=True``: tensors, numbers, strings and containers only, so a
    planted pickle cannot run code; every array of a checkpoint is stored as a tensor for that reason."""
    if not path.exists():
        raise StageError(f"{path} is missing: run the {what} stage first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file, or one that holds more than weights
        raise StageError(f"{path}: unreadable checkpoint ({exc.__class__.__name__}); delete it to recompute") from exc


def _state_from_blob(state: dict) -> dict:
    """A trainer state read from a checkpoint: the best model's probabilities back as a NumPy array."""
    state = dict(state)
    if isinstance(state.get("best_probs"), torch.Tensor):
        state["best_probs"] = state["best_probs"].numpy()
    return state


def _init_modules(seed: int, build):
    """Build modules with PyTorch's default initialisation drawn from a seeded, private RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def classify(classifier: nets.FeatureClassifier, feature: torch.Tensor):
    """(logits, hooked map). The original hooks conv2's output, which the in-place ReLU after it then overwrites
    (Lenet5's ``nn.ReLU(True)``), so the regulariser sees ReLU(conv2)."""
    hooked = torch.relu(classifier.feature[0](feature))
    x = classifier.feature[2](hooked)
    return classifier.classifier(torch.flatten(x, 1)), hooked


@torch.no_grad()
def predict(extractor, classifier, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([classifier(extractor(x[i:i + batch])) for i in range(0, len(x), batch)])


def first_batches_of_one_pass(n: int, batch: int, count: int, g: torch.Generator, device) -> list[torch.Tensor]:
    """The indices of the first ``count`` batches of one shuffled pass over ``n`` samples: disjoint, as the
    original's loop over a shuffling DataLoader that stops after 4 batches (train.py
    ``calculate_weighting_feature_maps_classifier``, L273-317)."""
    perm = torch.randperm(n, generator=g)
    return [perm[i * batch:(i + 1) * batch].to(device) for i in range(count) if i * batch < n]


class Run:
    """One run folder's stages for one model on one split."""

    def __init__(self, cfg: dict, split, run, seed: int, device: torch.device, data_root=None, mirrors=None,
                 ce_split=None, source_checkpoint: str | None = None, log=print):
        self.cfg, self.split, self.run, self.seed, self.device = cfg, split, run, int(seed), device
        self.data_root, self.mirrors, self.log = data_root, mirrors, log
        self.ce_split = ce_split if ce_split is not None else split
        self.source_checkpoint = source_checkpoint
        self.model = cfg["model"]
        self.fx = cfg["fixes"]
        self.num_classes = split.num_classes
        self.ckpt = run.checkpoint_dir
        self.minority = (split.manifest.get("dfg") or {}).get("minority_classes", [])

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def source_path(self) -> Path:
        return self.ckpt / "source.pt"

    @property
    def channel_eval_path(self) -> Path:
        return self.run.path / "channel_eval.json"

    @property
    def final_path(self) -> Path:
        return self.ckpt / "final.pt"

    @property
    def resume_path(self) -> Path:
        return self.ckpt / "train.pt"

    # -- stage 1: source network ---------------------------------------------------------------------------
    def _source_data(self):
        """EMNIST Digits when its archive is in the data root or a mirror (checksum verified), else MNIST."""
        from shared_data.fetch import DataError
        from shared_data.readers import load_dataset

        try:
            ds = load_dataset("emnist", self.data_root, self.mirrors, download=False, quiet=True)
            return "emnist-digits", ds.x_train, ds.y_train, ds.x_test, ds.y_test
        except DataError:
            pass
        try:
            ds = load_dataset("mnist", self.data_root, self.mirrors, download=False, quiet=True)
        except DataError as exc:
            raise StageError(f"source: neither EMNIST Digits nor MNIST found ({exc})") from exc
        return "mnist (stand-in for EMNIST digits)", ds.x_train, ds.y_train, ds.x_test, ds.y_test

    def stage_source(self) -> nets.Lenet5:
        if self.source_checkpoint:
            path = Path(self.source_checkpoint)
            if not path.exists():
                raise StageError(f"source checkpoint {path} does not exist")
            net = nets.Lenet5(10)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                net.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
            except Exception as exc:
                raise StageError(f"{path}: not a LeNet-5 state dict with 10 outputs ({exc})") from exc
            info = {"source": "checkpoint", "path": str(path.resolve())}
            atomic_torch_save({"state_dict": net.state_dict(), "info": info}, self.source_path)
            return net
        if self.source_path.exists():
            return self.load_source()
        c = self.cfg["source"]
        name, xtr, ytr, xte, yte = self._source_data()
        t0 = time.time()
        net = _init_modules(self.seed, lambda: nets.Lenet5(10)).to(self.device)
        x, y = to_tensor(xtr, self.device), torch.from_numpy(ytr).to(self.device)
        g = torch.Generator().manual_seed(self.seed + 7919)
        opt = torch.optim.Adam(net.parameters(), lr=c["lr"])
        steps = c["steps"] if c.get("steps") else c["epochs"] * (len(x) // c["batch_size"])
        done = 0
        while done < steps:
            perm = torch.randperm(len(x), generator=g).to(self.device)
            for i in range(0, len(x) - c["batch_size"] + 1, c["batch_size"]):
                idx = perm[i:i + c["batch_size"]]
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                if done >= steps:
                    break
        net.eval()
        with torch.no_grad():
            xt = to_tensor(xte, self.device)
            acc = float((torch.cat([net(xt[i:i + 1000]) for i in range(0, len(xt), 1000)]).argmax(1).cpu().numpy()
                         == yte).mean())
        info = {"source": name, "recipe": f"Adam lr {c['lr']}, batch {c['batch_size']}, {steps} steps, Pad(2), "
                                          f"Normalize(0.5, 0.5), seed {self.seed}",
                "source_test_accuracy": acc, "wall_time_s": time.time() - t0}
        self.log(f"source: {name}, {steps} steps, test accuracy {acc:.4f}")
        atomic_torch_save({"state_dict": net.cpu().state_dict(), "info": info}, self.source_path)
        return net.cpu()

    def load_source(self) -> nets.Lenet5:
        blob = _load(self.source_path, "source")
        net = nets.Lenet5(10)
        net.load_state_dict(blob["state_dict"])
        return net

    def source_info(self) -> dict | None:
        if not NEEDS_SOURCE[self.model]:
            return None
        return _load(self.source_path, "source")["info"]

    def _split_source(self, fresh_head: bool, gen_seed: int):
        g = torch.Generator().manual_seed(gen_seed)
        e, c = nets.split_source(self.load_source(), self.num_classes, fresh_head=fresh_head, generator=g)
        return e.to(self.device), c.to(self.device)

    # -- stage 2: channel evaluation -----------------------------------------------------------------------
    def _train_fc(self, e, c, x, y, g):
        """train.py ``train_fc`` (L330-391): the head alone on frozen features, SGD 0.01, momentum 0.9, wd 1e-4,
        ExponentialLR exp(ln 0.1 / 6) per epoch, 10 epochs. Used only with a fresh source head."""
        f = self.cfg["train_fc"]
        head = c.classifier[4]
        opt = torch.optim.SGD(head.parameters(), lr=f["lr"], momentum=0.9, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=float(np.exp(np.log(0.1) / 6)))
        c.train()
        for _ in range(f["epochs"]):
            perm = torch.randperm(len(x), generator=g).to(self.device)
            for i in range(0, len(x), self.cfg["batch_size"]):
                idx = perm[i:i + self.cfg["batch_size"]]
                with torch.no_grad():
                    feat = e(x[idx])
                loss = F.cross_entropy(c(feat), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()

    def stage_channel_eval(self) -> dict:
        if self.channel_eval_path.exists():
            return self.load_channel_eval()
        if self.cfg.get("channel_eval", "computed") == "released":
            return self._released_channel_eval()
        if not self.source_path.exists():
            raise StageError(f"{self.source_path} is missing: run the source stage first")
        t0 = time.time()
        s = self.ce_split
        g = torch.Generator().manual_seed(self.seed + 104729)
        fresh = self.fx["source_head"] == "fresh"
        e, c = self._split_source(fresh, self.seed + 1)
        e.requires_grad_(False).eval()
        x, y = to_tensor(s.x_train, self.device), torch.from_numpy(s.y_train).to(self.device)
        if fresh:
            self._train_fc(e, c, x, y, g)
        c.requires_grad_(False).eval()
        result = self._importance(e, c, s.y_train, x, y, g, self.fx["extractor_importance_sign"])
        batches = [(x[idx], y[idx]) for idx in first_batches_of_one_pass(
            len(x), self.cfg["batch_size"], self.cfg["classifier_eval_batches"], g, self.device)]
        out = {
            "generator_attention": result["attention"].tolist(),
            "extractor_weights": result["extractor"].tolist(),
            "classifier_weights": ce.classifier_importance(e, c, batches),
            "split_id": s.split_id, "split_hash": s.split_hash,
            "minority_classes": (s.manifest.get("dfg") or {}).get("minority_classes"),
            "samples_per_class": np.bincount(result["labels"], minlength=self.num_classes).tolist(),
            "wall_time_s": time.time() - t0,
        }
        from shared_data.records import atomic_write_json
        atomic_write_json(self.channel_eval_path, out)
        self.log(f"channel-eval on {s.split_id}: kept channels per class at 0.9: "
                 f"{(losses.attention_mask(out['generator_attention'], 0.9) > 0).sum(1).tolist()}")
        return out

    def _released_channel_eval(self) -> dict:
        """The authors' shipped channel evaluation in place of one computed from the stand-in source network."""
        from shared_data.records import atomic_write_json

        from . import released

        t0 = time.time()
        out = released.load(self.cfg["dataset"], self.data_root, self.mirrors)
        out.update(split_id=None, split_hash=None, minority_classes=None, samples_per_class=None,
                   wall_time_s=time.time() - t0)
        atomic_write_json(self.channel_eval_path, out)
        self.log(f"channel-eval: the authors' files ({out['source']}): kept channels per class at 0.9: "
                 f"{(losses.attention_mask(out['generator_attention'], 0.9) > 0).sum(1).tolist()}")
        return out

    def _importance(self, e, c, y_np, x, y, g, sign):
        pos = ce.collect_per_class(y_np, self.num_classes, self.cfg["label_min"], self.cfg["batch_size"], g)
        idx = torch.from_numpy(pos).to(self.device)
        w = ce.extractor_importance(e, c, x[idx], y[idx], sign)
        return {"attention": losses.class_attention(w, y_np[pos], self.num_classes), "extractor": w.mean(0),
                "labels": y_np[pos]}

    def load_channel_eval(self) -> dict:
        if not self.channel_eval_path.exists():
            raise StageError(f"{self.channel_eval_path} is missing: run the channel-eval stage first")
        return json.loads(self.channel_eval_path.read_text())

    # -- stage 3: training ---------------------------------------------------------------------------------
    def _build(self):
        cfg, dev, K = self.cfg, self.device, self.num_classes
        slope = self.fx["leaky_slope"]
        if NEEDS_SOURCE[self.model]:
            # each of E_s, C_s, E_t, C_t is built from the source weights; a fresh head is a new random Linear
            fresh = self.fx["source_head"] == "fresh"
            e_t, c_t = self._split_source(fresh, self.seed + 2)
            e_s, c_s = self._split_source(fresh, self.seed + 3)
        else:  # ORIGINAL: a LeNet-5 from scratch on the target data
            src = _init_modules(self.seed, lambda: nets.Lenet5(K))
            e_t, c_t = (m.to(dev) for m in nets.split_source(src, K))
            e_s = c_s = None
        nets_ = {"e_t": e_t, "c_t": c_t}
        if self.model == "dfg":
            nets_["g"] = _init_modules(self.seed + 4, lambda: nets.FeatureGenerator(K, cfg["noise_dim"], slope)).to(dev)
            nets_["d"] = _init_modules(self.seed + 5, lambda: nets.FeatureDiscriminator(6, slope)).to(dev)
        betas = tuple(cfg["betas"])
        opts = {"e_t": torch.optim.Adam(e_t.parameters(), lr=cfg["lr_extractor"], betas=betas),
                "c_t": torch.optim.Adam(c_t.parameters(), lr=cfg["lr_classifier"], betas=betas)}
        if self.model == "dfg":
            opts["g"] = torch.optim.Adam(nets_["g"].parameters(), lr=cfg["lr_generator"], betas=betas)
            opts["d"] = torch.optim.Adam(nets_["d"].parameters(), lr=cfg["lr_discriminator"], betas=betas)
        if e_s is not None:
            e_s.requires_grad_(False).eval()
            c_s.requires_grad_(False).eval()
        return nets_, opts, e_s, c_s

    def stage_train(self) -> dict:
        if self.final_path.exists():
            return _load(self.final_path, "train")
        if NEEDS_SOURCE[self.model] and not self.source_path.exists():
            raise StageError(f"{self.source_path} is missing: run the source stage first")
        chan = self.load_channel_eval() if NEEDS_CHANNEL_EVAL[self.model] else None
        return Trainer(self, chan).train()

    # -- stage 4: evaluation -------------------------------------------------------------------------------
    def stage_eval(self) -> dict:
        blob = _load(self.final_path, "train")
        e_t, c_t = nets.split_source(nets.Lenet5(self.num_classes), self.num_classes)
        e_t.load_state_dict(blob["e_t"])
        c_t.load_state_dict(blob["c_t"])
        e_t, c_t = e_t.to(self.device).eval(), c_t.to(self.device).eval()
        logits = predict(e_t, c_t, to_tensor(self.split.x_test, self.device)).double().cpu()
        return {"final_logits": logits.numpy(), **blob, "state": _state_from_blob(blob["state"])}


class Trainer:
    """DFG's iteration loop (train.py ``train_gan`` L822-1008) or a baseline's (step 4 only)."""

    def __init__(self, owner: Run, chan: dict | None):
        self.o, self.cfg, self.fx, self.dev = owner, owner.cfg, owner.fx, owner.device
        self.chan = chan
        self.K = owner.num_classes
        s = owner.split
        self.g = torch.Generator().manual_seed(owner.seed)
        y_all = s.y_train
        if self.fx["val_fraction"] > 0:
            tr, va = stratified_holdout(y_all, self.fx["val_fraction"], owner.seed)
        else:
            tr, va = np.arange(len(y_all)), np.arange(0)
        self.x = to_tensor(s.x_train[tr], self.dev)
        self.y = torch.from_numpy(y_all[tr]).to(self.dev)
        self.x_val = to_tensor(s.x_train[va], self.dev) if len(va) else None
        self.y_val = y_all[va]
        self.x_test = to_tensor(s.x_test, self.dev)
        self.y_test = s.y_test
        self.train_counts = np.bincount(y_all[tr], minlength=self.K).tolist()
        self.sample = BatchSampler(len(self.x), self.cfg["batch_size"], self.g)

    # -- helpers -------------------------------------------------------------------------------------------
    def _noise(self, n):
        z = torch.rand((n, self.cfg["noise_dim"]), generator=self.g) * 2 - 1
        y = losses.generated_labels(n, self.fx["gen_label_dist"], self.K, self.train_counts, self.o.minority, self.g)
        return z.to(self.dev), y.to(self.dev)

    def _generate(self, n, grad: bool):
        z, y = self._noise(n)
        dt = self.mask.dtype  # float32 (float64 only in the reference-step test)
        onehot = F.one_hot(y, self.K).to(dt)
        att = onehot @ self.mask
        with torch.set_grad_enabled(grad):
            return self.n["g"](torch.cat([z.to(dt), onehot], 1), att), y

    def _regularisers(self, x, f_t, hooked_t):
        """(Omega_E, Omega_C, Omega_fc) on real batch x (train.py L622-671)."""
        with torch.no_grad():
            f_s = self.e_s(x)
            _, hooked_s = classify(self.c_s, f_s)
        om_e = losses.feature_map_distance(f_t, f_s, self.w_e)
        om_c = losses.feature_map_distance(hooked_t, hooked_s, self.w_c)
        return om_e, om_c, losses.fc_decay(self.n["c_t"].classifier[4])

    @torch.no_grad()
    def _evaluate(self, step):
        e_t, c_t = self.n["e_t"], self.n["c_t"]
        modes = {k: m.training for k, m in self.n.items()}
        for m in self.n.values():
            m.eval()
        logits = predict(e_t, c_t, self.x_test).double().cpu()
        probs = torch.softmax(logits, 1).numpy()
        y_test = torch.from_numpy(self.y_test)
        acc = float((logits.argmax(1) == y_test).double().mean())
        loss = float(F.cross_entropy(logits, y_test))
        val_acc = None
        if self.x_val is not None:
            val_acc = float((predict(e_t, c_t, self.x_val).argmax(1).cpu().numpy() == self.y_val).mean())
        for k, m in self.n.items():
            m.train(modes[k])
        st = self.state
        key = val_acc if val_acc is not None else acc
        if key > st["best_key"]:  # strictly better, as the original's `step_acc > best_step_acc`
            st.update(best_key=key, best_step=step, best_acc=acc, best_probs=probs.astype(np.float32))
        self.o.run.log_eval(split="test", metrics={"accuracy": acc, "loss": loss}, step=step,
                            **({"val_accuracy": val_acc} if val_acc is not None else {}))
        return acc

    # -- state ---------------------------------------------------------------------------------------------
    def _setup(self):
        o = self.o
        self.n, self.opt, self.e_s, self.c_s = o._build()
        reg = o.model in ("dfg", "delta")
        if reg:
            self.w_e = losses.channel_weights(self.chan["extractor_weights"], self.dev)
            self.w_c = losses.channel_weights(self.chan["classifier_weights"][0], self.dev)
        if o.model == "dfg":
            a = np.asarray(self.chan["generator_attention"])
            self.mask = torch.tensor(losses.attention_mask(a, self.cfg["init_threshold"]), dtype=torch.float32,
                                     device=self.dev)
        self.state = {"step": 0, "best_key": -1.0, "best_step": None, "best_acc": None, "best_probs": None,
                      "e_loss": float("inf"), "attention_updates": []}
        self.queue = [self.sample() for _ in range(self.cfg["num_d_iters"] if o.model == "dfg" else 1)]

    def _save(self, path, final=False):
        state = dict(self.state)
        if state["best_probs"] is not None:  # a tensor, so that the checkpoint loads with weights_only=True
            state["best_probs"] = torch.from_numpy(state["best_probs"])
        blob = {"state": state, "queue": [q.cpu() for q in self.queue], "rng": self.g.get_state(),
                **{k: m.state_dict() for k, m in self.n.items()}, "final": final}
        blob["opt"] = {k: o.state_dict() for k, o in self.opt.items()}
        if self.o.model == "dfg":
            blob["mask"] = self.mask.cpu()
        atomic_torch_save(blob, path)

    def _restore(self, blob):
        for k, m in self.n.items():
            m.load_state_dict(blob[k])
        for k, o in self.opt.items():
            o.load_state_dict(blob["opt"][k])
        self.state = _state_from_blob(blob["state"])
        self.queue = [q for q in blob["queue"]]
        self.g.set_state(blob["rng"])
        if self.o.model == "dfg":
            self.mask = blob["mask"].to(self.dev)

    # -- the loop ------------------------------------------------------------------------------------------
    def train(self) -> dict:
        self._setup()
        o, cfg = self.o, self.cfg
        if o.resume_path.exists():
            self._restore(_load(o.resume_path, "train"))
            done = self.state["step"]
            o.run.truncate_metrics(lambda r: r.get("step") is None or r["step"] < done)
            o.log(f"resuming at step {done}")
        t0 = time.time() - self.state.get("elapsed", 0.0)
        steps, every = cfg["steps"], cfg["eval_every"]
        for m in self.n.values():
            m.train()
        while self.state["step"] < steps:
            step = self.state["step"]
            losses_ = self.iteration(step) if o.model == "dfg" else self.baseline_iteration(step)
            if step % every == 0 and step != 0:
                acc = self._evaluate(step)
                o.run.log_metrics({"step": step, **losses_, "elapsed_s": time.time() - t0})
                o.log(f"step {step}/{steps} test accuracy {acc:.4f} (best {self.state['best_acc']:.4f} at "
                      f"{self.state['best_step']}) {time.time() - t0:.0f}s")
            self.state["step"] = step + 1
            self.queue.pop(0)
            self.queue.append(self.sample())
            if self.state["step"] % cfg["checkpoint_every"] == 0 and self.state["step"] < steps:
                self.state["elapsed"] = time.time() - t0
                self._save(o.resume_path)
                if cfg.get("stop_after") and self.state["step"] >= cfg["stop_after"]:
                    raise Interrupted(f"stopped after step {self.state['step']} (checkpointed)")
        if self.fx["eval_final_step"]:
            self._evaluate(steps)
        self.state["elapsed"] = time.time() - t0
        self.state["train_counts"] = self.train_counts
        self._save(o.final_path, final=True)
        if o.resume_path.exists():
            o.resume_path.unlink()
        return _load(o.final_path, "train")

    def baseline_iteration(self, step) -> dict:
        """ORIGINAL / FINE-TUNING: CE; DELTA: CE + alpha_E Omega_E + alpha_C Omega_C + beta Omega_fc (inferred)."""
        idx = self.queue[0].to(self.dev)
        x, y = self.x[idx], self.y[idx]
        e_t, c_t = self.n["e_t"], self.n["c_t"]
        f_t = e_t(x)
        logits, hooked = classify(c_t, f_t)
        loss = F.cross_entropy(logits, y)
        out = {"ce": loss.item()}
        if self.o.model == "delta":
            om_e, om_c, om_fc = self._regularisers(x, f_t, hooked)
            loss = loss + self.cfg["alpha_extractor"] * om_e + self.cfg["alpha_classifier"] * om_c \
                + self.cfg["beta_classifier"] * om_fc
            out.update(omega_e=om_e.item(), omega_c=om_c.item(), omega_fc=om_fc.item())
        self.opt["e_t"].zero_grad(set_to_none=True)
        self.opt["c_t"].zero_grad(set_to_none=True)
        loss.backward()
        self.opt["e_t"].step()
        self.opt["c_t"].step()
        return out

    # The phases of one DFG iteration, each building its loss without touching an optimiser; ``iteration`` runs
    # them in the released order and steps, and ``bench.py`` times the same calls alone.
    def _zero_backward(self, loss, *keys) -> None:
        for k in keys:
            self.opt[k].zero_grad(set_to_none=True)
        loss.backward()

    def _critic_reals(self):
        """E_t's features of the queued real batches, one per critic update (no grad)."""
        e_t = self.n["e_t"]
        if self.fx["eval_mode_side_passes"]:
            e_t.eval()
        with torch.no_grad():
            reals = e_t(self.x[torch.cat(self.queue).to(self.dev)]).split(self.cfg["batch_size"])
        e_t.train()
        return reals

    def _critic_fake(self):
        """G's features for one critic update and the interpolation weights (drawn either way: same RNG stream)."""
        B = self.cfg["batch_size"]
        fake, _ = self._generate(B, grad=False)
        alpha = torch.rand((B, 1, 1, 1), generator=self.g).to(self.dev)
        return fake, alpha

    def _critic_loss(self, real, fake, alpha):
        """WGAN-GP critic loss and its penalty (an affine D takes the exact shortcut and ignores ``alpha``)."""
        d, lam = self.n["d"], self.cfg["lambda_gp"]
        if self.fx["leaky_slope"] == 1.0:
            return losses.critic_loss_affine(d, real, fake, lam)
        return losses.critic_loss(d, real, fake, alpha, lam)

    def _g_adv_loss(self):
        """Step 2: -D(G(z)) (the batch mean goes through D first when D is affine: the same value)."""
        d = self.n["d"]
        fake, _ = self._generate(self.cfg["batch_size"], grad=True)
        return -d(fake.mean(0, keepdim=True)).mean() if self.fx["leaky_slope"] == 1.0 else -d(fake).mean()

    def _g_cls_loss(self, x0, y0):
        """Step 3: C_t's cross-entropy on [G(z, y); E_t(x0)], E_t frozen."""
        fake, yf = self._generate(self.cfg["batch_size"], grad=True)
        with torch.no_grad():
            real = self.n["e_t"](x0)
        logits, _ = classify(self.n["c_t"], torch.cat([fake, real]))
        return F.cross_entropy(logits, torch.cat([yf, y0]))

    def _ec_loss(self, x0, y0):
        """Step 4: (loss to backward, its terms) for E_t and C_t on real data with the regularisers."""
        cfg = self.cfg
        f_t = self.n["e_t"](x0)
        logits, hooked = classify(self.n["c_t"], f_t)
        ce_loss = F.cross_entropy(logits, y0)
        om_e, om_c, om_fc = self._regularisers(x0, f_t, hooked)
        e_loss = ce_loss + cfg["alpha_extractor"] * om_e
        c_loss_real = ce_loss + cfg["alpha_classifier"] * om_c + cfg["beta_classifier"] * om_fc
        total = e_loss + c_loss_real - (ce_loss if self.fx["single_ce_step4"] else 0)  # CE counted twice
        return total, dict(e_loss=e_loss, c_loss_real=c_loss_real, omega_e=om_e, omega_c=om_c, omega_fc=om_fc)

    def _c_loss(self, x0, y0):
        """Step 5: (C_t's loss, its fake term, its merged term) on real, generated and merged features.
        E_t's gradient from this loss is discarded by the zero_grad of step 4, so E_t(x0) is detached here."""
        cfg, e_t, c_t = self.cfg, self.n["e_t"], self.n["c_t"]
        with torch.no_grad():
            f_t = e_t(x0)
            fake, yf = self._generate(cfg["batch_size"], grad=False)
        logits_r, hooked = classify(c_t, f_t)
        real_term = F.cross_entropy(logits_r, y0)
        _, om_c, om_fc = self._regularisers(x0, f_t, hooked)
        real_term = real_term + cfg["alpha_classifier"] * om_c + cfg["beta_classifier"] * om_fc
        fake_term = F.cross_entropy(classify(c_t, fake)[0], yf)
        merged_term = F.cross_entropy(classify(c_t, torch.cat([fake, f_t]))[0], torch.cat([yf, y0]))
        return (real_term + fake_term + merged_term) / 3.0, fake_term, merged_term

    def iteration(self, step) -> dict:
        cfg, n, opt = self.cfg, self.n, self.opt
        e_t, c_t, g, d = n["e_t"], n["c_t"], n["g"], n["d"]
        out = {}
        # 1. critic: 5 updates, one per queued real batch; E_t, C_t, G frozen (train.py L543-571)
        d.requires_grad_(True)
        for p in (e_t, c_t, g):
            p.requires_grad_(False)
        for real in self._critic_reals():
            d_loss, gp = self._critic_loss(real, *self._critic_fake())
            self._zero_backward(d_loss, "d")
            opt["d"].step()
        out.update(d_loss=d_loss.item(), gp=gp.item())
        # 2. generator, adversarial (L573-594)
        d.requires_grad_(False)
        g.requires_grad_(True)
        g_loss = self._g_adv_loss()
        self._zero_backward(g_loss, "g")
        opt["g"].step()
        out["g_loss"] = g_loss.item()
        idx = self.queue[0].to(self.dev)
        x0, y0 = self.x[idx], self.y[idx]
        if step % cfg["step_for_3_4"] == 0:
            # 3. generator through the classifier on [G(z, y); E_t(x0)] (L596-620); only G steps
            loss3 = self._g_cls_loss(x0, y0)
            self._zero_backward(loss3, "g")
            opt["g"].step()
            # 4. extractor + classifier on real data with the regularisers (L622-671)
            e_t.requires_grad_(True)
            c_t.requires_grad_(True)
            g.requires_grad_(False)
            total, terms = self._ec_loss(x0, y0)
            self._zero_backward(total, "e_t", "c_t")
            opt["e_t"].step()
            opt["c_t"].step()
            self.state["e_loss"] = terms["e_loss"].item()
            out.update(g_cls_loss=loss3.item(), **{k: v.item() for k, v in terms.items()})
        if step % cfg["step_for_5"] == 0 and step != 0:
            # 5. classifier on real, generated and merged features; only C_t's optimiser steps (L673-724)
            c_loss, fake_term, merged_term = self._c_loss(x0, y0)
            self._zero_backward(c_loss, "c_t")
            opt["c_t"].step()
            out.update(c_loss=c_loss.item(), c_loss_fake=fake_term.item(), c_loss_merged=merged_term.item())
        if step % cfg["step_for_6"] == 0 and step != 0 and self.state["e_loss"] < cfg["e_loss_for_6"]:
            self.update_attention(step)  # 6. (L975-977, L726-782)
        return out

    @torch.no_grad()
    def update_attention(self, step):
        e_t, c_t = self.n["e_t"], self.n["c_t"]
        if self.fx["eval_mode_side_passes"]:
            e_t.eval()
            c_t.eval()
        y_np = self.y.cpu().numpy()
        res = self.o._importance(e_t, c_t, y_np, self.x, self.y, self.g, self.fx["extractor_importance_sign"])
        e_t.train()
        c_t.train()
        new = res["attention"]
        if self.fx["attention_rho_blend"]:
            rho = self.cfg["rho"]
            new = rho * self.mask.cpu().double().numpy() + (1 - rho) * new
        mask = losses.attention_mask(new, self.cfg["update_threshold"])
        self.mask = torch.tensor(mask, dtype=self.mask.dtype, device=self.dev)
        zeroed = (mask == 0).sum(1).tolist()
        self.state["attention_updates"].append({"step": step, "zeroed_per_class": zeroed})
        self.o.run.log_metrics({"kind": "attention", "step": step, "zeroed_per_class": zeroed})
