"""The four stages of one run, each resuming from the previous stage's files in the run folder.

    gan    checkpoints/gan_last.pt (resume), checkpoints/gan_epoch_<k>.pt, checkpoints/gan_final.pt, samples/
    map    category_map.json            (needs gan_final.pt)
    synth  synth.npz, synth/<class>.png (needs gan_final.pt and category_map.json)
    cnn    checkpoints/cnn_last.pt (resume), predictions.npz, classification_report.txt, and the result that
           run.py writes as result.json (needs synth.npz; the baseline needs nothing)

Every file is written atomically; ``stages.json`` records each finished stage's wall time. ``stop_after`` stops
the GAN or CNN stage at its first checkpoint at or past that epoch (``Stopped``); the same command resumes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from shared_data import metrics as sd_metrics
from shared_data import records
from shared_data.readers import load_dataset

from . import data as D
from . import io, rng
from .category_map import build_map
from .gan import FINAL, GANTrainer
from .errors import StageError, Stopped, reason
from .nets import ConvNet, Discriminator, Generator

STAGES = ("gan", "map", "synth", "cnn")
REQUIRES = {"map": ("checkpoints/" + FINAL,), "synth": ("checkpoints/" + FINAL, "category_map.json"),
            "cnn": ("synth.npz",)}
MAKES = {"checkpoints/" + FINAL: "gan", "category_map.json": "map", "synth.npz": "synth"}


def missing_inputs(run_path: Path, stage: str, model: str) -> list[tuple[str, str]]:
    """(file, stage that makes it) for every input of ``stage`` absent from the run folder."""
    if model == "baseline":
        return []
    return [(f, MAKES[f]) for f in REQUIRES.get(stage, ()) if not (run_path / f).exists()]


class Run:
    def __init__(self, cfg: dict, split, run: records.RunDir, device: torch.device, data_root=None, mirrors=(),
                 progress: bool = True, stop_after: int | None = None, variant=None, paper_method: str | None = None):
        """``variant`` (a ``shared_data.variants.Variant``) and ``paper_method`` name the result."""
        self.cfg, self.split, self.run, self.device = cfg, split, run, device
        self.data_root, self.mirrors, self.progress = data_root, mirrors, progress
        self.stop_after, self.variant, self.paper_method = stop_after, variant, paper_method
        self.path = run.path
        self.cnn_seed = cfg["seed"] + 1  # train_cnn.py L21-22 seeds 1 where experiment.py seeds 0

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _stages(self) -> dict:
        p = self.path / "stages.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def _stage_done(self, stage: str, seconds: float, **info) -> None:
        st = self._stages()
        st[stage] = dict(info, seconds=float(seconds))
        records.atomic_write_json(self.path / "stages.json", st)

    def _truncate_log(self, stage: str, keep_epochs: int = 0) -> None:
        self.run.truncate_metrics(lambda r: r.get("stage") != stage or (r.get("epoch") or 0) <= keep_epochs)

    def _stop_here(self, stage: str, epoch: int, total: int) -> None:
        """Called at each resume point: stop there if it is at or past ``stop_after`` and the stage is not done."""
        if self.stop_after is not None and self.stop_after <= epoch < total:
            raise Stopped(f"stopped after {stage} epoch {epoch} of {total} (--stop-after {self.stop_after})")

    def _official(self, dataset: str):
        ds = load_dataset(dataset, self.data_root, self.mirrors)
        return ds.x_train, ds.y_train

    # -- GAN -----------------------------------------------------------------------------------------------
    def gan(self) -> None:
        cfg = self.cfg
        final = self.run.checkpoint_dir / FINAL
        if final.exists():
            return
        if cfg.get("gan", "train") == "released":
            return self.released_gan()
        t0 = time.time()
        if cfg["shared_real_subset"]:
            trainer = GANTrainer(cfg, self.device, x_real=self.split.x_train, progress=self.progress)
        else:
            trainer = GANTrainer(cfg, self.device, official=self._official(cfg["gan_dataset_resolved"]),
                                 progress=self.progress)
        last = self.run.checkpoint_dir / "gan_last.pt"
        elapsed = 0.0
        if last.exists():
            st = io.load_torch(last, "GAN checkpoint", "re-run the same command to restart the GAN stage")
            trainer.load_state(st)
            elapsed = float(st.get("elapsed_s", 0.0))
            print(f"resuming the GAN after epoch {trainer.epoch}")
        self._truncate_log("gan", trainer.epoch)
        samples = self.path / "samples"
        while trainer.epoch < cfg["gan_epochs"]:
            rec = trainer.train_epoch(log=self.run.log_metrics, sample_dir=samples)
            if not self.progress:
                pass
            elif trainer.epoch % max(1, cfg["gan_epochs"] // 20) == 0 or trainer.epoch == cfg["gan_epochs"]:
                print(f"GAN epoch {rec['epoch']}/{cfg['gan_epochs']}: D {rec['last_d_loss']:.4f} G "
                      f"{rec['last_g_loss']:.4f} info {rec['last_info_loss']:.4f} hinge open in "
                      f"{rec['hinge_open_batches']} batches ({rec['seconds']:.1f} s)")
            snapshot = trainer.epoch % cfg["checkpoint_every"] == 0 or trainer.epoch == cfg["gan_epochs"]
            if snapshot or trainer.epoch % cfg["resume_every"] == 0:
                st = trainer.state()
                st["elapsed_s"] = elapsed + time.time() - t0
                if snapshot:  # the original's model_final_<epoch> (every 100 epochs)
                    io.save_torch(self.run.checkpoint_dir / f"gan_epoch_{trainer.epoch}.pt",
                                  {"generator": st["generator"], "discriminator": st["discriminator"],
                                   "epoch": trainer.epoch})
                io.save_torch(last, st)  # the resume point: a stopped run loses at most resume_every epochs
                self._stop_here("GAN", trainer.epoch, cfg["gan_epochs"])
        st = trainer.state()
        st["elapsed_s"] = elapsed + time.time() - t0
        io.save_torch(final, st)
        iters = cfg["gan_epochs"] * trainer.steps
        self._stage_done("gan", st["elapsed_s"], iterations=iters, hinge_open=list(trainer.hinge_open),
                         ms_per_iteration=1000 * st["elapsed_s"] / max(1, iters))

    def released_gan(self) -> None:
        """The authors' trained GAN in place of the GAN stage: verified, loaded without running code, checked
        against this config's networks, and stored as the stage's output."""
        from . import released

        cfg, t0 = self.cfg, time.time()
        blob = released.load(cfg["dataset"], self.data_root, self.mirrors)
        g = Generator(cfg["code_dim"], cfg["bn_eps"], cfg["latent_dim"], cfg["n_classes"])
        d = Discriminator(cfg["code_dim"], cfg["bn_eps"], cfg["single_softmax"], cfg["n_classes"])
        try:
            g.load_state_dict(blob["generator"])
            d.load_state_dict(blob["discriminator"])
        except RuntimeError as exc:
            raise StageError(f"{blob['path']}: its networks do not fit this config (code_dim {cfg['code_dim']}): "
                             f"{str(exc).splitlines()[0]}") from None
        params = {k: v for k, v in blob["parameters"].items() if isinstance(v, (int, float, str, bool))}
        io.save_torch(self.run.checkpoint_dir / FINAL, {"generator": g.state_dict(), "discriminator": d.state_dict(),
                                                        "released": released.LABEL, "parameters": params})
        self._stage_done("gan", time.time() - t0, source=released.LABEL, parameters=params, iterations=None,
                         hinge_open=[])
        print(f"GAN: the authors' released checkpoint ({released.LABEL}, {blob['path'].name})")

    def load_generator(self, fresh_modules: bool = False):
        st = io.load_torch(self.run.checkpoint_dir / FINAL, "trained GAN",
                           "run the same command with --stage gan first")
        cfg = self.cfg
        try:
            g = Generator(cfg["code_dim"], cfg["bn_eps"], cfg["latent_dim"], cfg["n_classes"])
            if fresh_modules:  # utils.get_trained_generator_discriminator builds D too (RNG draws)
                Discriminator(cfg["code_dim"], cfg["bn_eps"], cfg["single_softmax"], cfg["n_classes"])
            g.load_state_dict(st["generator"])
        except KeyError:
            raise StageError(f"{self.run.checkpoint_dir / FINAL}: holds no generator; delete it and run the same "
                             f"command with --stage gan") from None
        except RuntimeError as exc:
            raise StageError(f"{self.run.checkpoint_dir / FINAL}: not a GAN of this config ({reason(exc)}); delete "
                             f"it and run the same command with --stage gan") from None
        return g.to(self.device).eval()

    # -- category map --------------------------------------------------------------------------------------
    def category_map(self) -> dict:
        cfg = self.cfg
        out = self.path / "category_map.json"
        if out.exists():
            return json.loads(out.read_text())
        t0 = time.time()
        if cfg["category_map"] == "hardcoded":
            self.load_generator()  # the stage's input must exist even when unused
            result = {"method": "hardcoded", "class_to_code": list(cfg["hardcoded_map"])}
        else:
            g = self.load_generator()
            result = build_map(cfg, g, self.split.x_train, self.split.y_train, self.device,
                               log=self.run.log_metrics, progress=self.progress)
        records.atomic_write_json(out, result)
        self._stage_done("map", time.time() - t0)
        print(f"category -> class map ({result['method']}): class_to_code {result['class_to_code']}")
        return result

    # -- synthesis -----------------------------------------------------------------------------------------
    def _synth_counts(self) -> list[int]:
        counts = self.split.train_counts
        if self.cfg["synth_count"] == "deficit":
            return [max(counts) - n for n in counts]
        return [self.cfg["synth_per_class"]] * len(counts)  # gene_nums (utils.py L329): 100

    def synth(self) -> None:
        cfg, out = self.cfg, self.path / "synth.npz"
        if out.exists():
            return
        t0 = time.time()
        cmap = self.category_map() if (self.path / "category_map.json").exists() else None
        if cmap is None:
            raise StageError(f"{self.path / 'category_map.json'}: no category map; run the same command with "
                             f"--stage map first")
        self.load_generator()  # fails early, with its one line, when the GAN is missing or unreadable
        sd = io.load_torch(self.run.checkpoint_dir / FINAL, "trained GAN", "run --stage gan first")["generator"]
        official_counts = np.bincount(self._official(cfg["dataset"])[1], minlength=cfg["n_classes"])
        mnist_rule = cfg["gen_code"] == "zeros"  # MNIST: get_specific_label re-seeds torch and numpy per class
        torch.manual_seed(self.cnn_seed)
        np_rng = np.random.RandomState(self.cnn_seed)
        z_rng = np_rng  # fix fresh_z_per_class: z from this stream, never re-seeded
        xs, ys = [], []
        grid_dir = self.path / "synth"
        for c, n_gen in enumerate(self._synth_counts()):
            if mnist_rule:
                torch.manual_seed(cfg["split_seed"])
                np_rng = np.random.RandomState(cfg["split_seed"])
            torch.randperm(int(official_counts[c]))  # the real subset's draw (its result is the split's)
            rng.loader_iter_draw()  # next(iter(DataLoader(...)))
            g = Generator(cfg["code_dim"], cfg["bn_eps"], cfg["latent_dim"], cfg["n_classes"])
            Discriminator(cfg["code_dim"], cfg["bn_eps"], cfg["single_softmax"], cfg["n_classes"])
            g.load_state_dict(sd)
            g = g.to(self.device).eval()
            code_index = int(cmap["class_to_code"][c])
            made = 0
            while made < n_gen:
                k = cfg["synth_chunk"]
                src = z_rng if (cfg["fresh_z_per_class"] and mnist_rule) else np_rng
                z = torch.from_numpy(src.normal(0, cfg["gen_z_std"], (k, cfg["latent_dim"])).astype(np.float32))
                code = torch.zeros(k, cfg["code_dim"])
                if cfg["gen_code"] == "fashion":
                    code[:, 2:3] = torch.randn(k, 1) * cfg["gen_code_factor"]
                label = D.to_categorical(np.full(k, code_index), cfg["n_classes"])
                with torch.no_grad():
                    imgs = g(z.to(self.device), label.to(self.device), code.to(self.device)).cpu()
                if made == 0:
                    io.save_grid(grid_dir / f"class_{c}_code_{code_index}.png", imgs, 10)
                take = min(k, n_gen - made)
                xs.append(imgs[:take].numpy())
                ys.append(np.full(take, c, dtype=np.int64))
                made += take
        x = np.concatenate(xs) if xs else np.zeros((0, 1, 32, 32), np.float32)
        y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
        io.save_npz(out, x=x.astype(np.float32), y=y, torch_rng=torch.get_rng_state().numpy(),
                    class_to_code=np.asarray(cmap["class_to_code"], dtype=np.int64))
        self._stage_done("synth", time.time() - t0, per_class=np.bincount(y, minlength=10).tolist())

    def real_inputs(self) -> torch.Tensor:
        if getattr(self, "_x_real", None) is None:
            self._x_real = D.to_model_input(self.split.x_train)
        return self._x_real

    # -- CNN -----------------------------------------------------------------------------------------------
    def training_set(self, synth: dict | None):
        """Per class: its real images (split order), then its synthetic ones; then utils.shuffle (seed 32)."""
        x_real = self.real_inputs()
        y_real = torch.from_numpy(self.split.y_train.astype(np.int64))
        xs, ys = [], []
        for c in range(self.cfg["n_classes"]):
            xs.append(x_real[y_real == c])
            ys.append(y_real[y_real == c])
            if synth is not None:
                m = synth["y"] == c
                xs.append(torch.from_numpy(synth["x"][m]))
                ys.append(torch.from_numpy(synth["y"][m]))
        x, y = torch.cat(xs), torch.cat(ys)
        perm = torch.from_numpy(D.fixed_shuffle(len(y)))
        return x[perm], y[perm]

    def cnn(self) -> dict:
        cfg = self.cfg
        if self.run.is_complete():
            return self.run.read_result()
        t0 = time.time()
        synth = None
        if cfg["model"] != "baseline":
            synth = io.load_npz(self.path / "synth.npz", "synthetic images", "run the same command with --stage "
                                "synth first", keys=("x", "y", "torch_rng"))
        x, y = self.training_set(synth)
        if synth is not None:
            torch.set_rng_state(torch.from_numpy(synth["torch_rng"]))
        else:
            torch.manual_seed(self.cnn_seed)
        model = ConvNet(cfg["n_classes"]).to(self.device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["cnn_lr"])
        x, y = x.to(self.device), y.to(self.device)
        x_test = D.to_model_input(self.split.x_test).to(self.device)
        n, bs = len(y), cfg["batch_size"]
        n_batches = -(-n // bs)
        steps = min(cfg["cnn_steps_per_epoch"] or n_batches, n_batches)
        last = self.run.checkpoint_dir / "cnn_last.pt"
        epoch, elapsed, reported = 0, 0.0, None
        if last.exists():
            st = io.load_torch(last, "CNN checkpoint", "re-run the same command to restart the CNN stage")
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            torch.set_rng_state(st["torch_rng"])
            if "cuda_rng" in st and self.device.type == "cuda":
                torch.cuda.set_rng_state(st["cuda_rng"], self.device)
            epoch, elapsed, reported = int(st["epoch"]), float(st["elapsed_s"]), st.get("reported")
            print(f"resuming the CNN after epoch {epoch}")
        self._truncate_log("cnn", epoch)
        while epoch < cfg["cnn_epochs"]:
            order = torch.arange(n, device=self.device)
            if cfg["reshuffle_each_epoch"] and epoch > 0:
                order = torch.from_numpy(np.random.RandomState([cfg["seed"], epoch]).permutation(n)).to(self.device)
            model.train()
            loss_sum, correct = 0.0, 0
            bar = tqdm(range(steps), desc=f"CNN epoch {epoch + 1}/{cfg['cnn_epochs']}", leave=False,
                       disable=not self.progress)
            for it in bar:
                idx = order[it * bs:(it + 1) * bs]
                out = model(x[idx])
                loss = F.cross_entropy(out, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_sum += loss.item()
                correct += int((out.argmax(1) == y[idx]).sum().item())
            epoch += 1
            self.run.log_metrics({"stage": "cnn", "epoch": epoch, "loss": loss_sum / steps,
                                  "train_acc": correct / min(n, steps * bs)})
            if epoch % cfg["eval_every"] == 0 or (cfg["eval_final_epoch"] and epoch == cfg["cnn_epochs"]):
                reported = self.evaluate(model, x_test, epoch)
            st = {"model": model.state_dict(), "opt": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                  "epoch": epoch, "elapsed_s": elapsed + time.time() - t0, "reported": reported}
            if self.device.type == "cuda":
                st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
            io.save_torch(last, st)
            self._stop_here("CNN", epoch, cfg["cnn_epochs"])
        if reported is None:
            raise StageError(f"no evaluation happened in {cfg['cnn_epochs']} CNN epochs (every {cfg['eval_every']}"
                             f"); use more epochs or --eval-final-epoch")
        seconds = elapsed + time.time() - t0
        self._stage_done("cnn", seconds, reported_epoch=reported["epoch"])
        return self.finish(reported)

    def evaluate(self, model, x_test, epoch: int) -> dict:
        rng.shuffled_loader_order(len(x_test))  # the test DataLoader(shuffle=True) draws (order irrelevant)
        model.eval()
        logits = []
        with torch.no_grad():
            for i in range(0, len(x_test), 1000):
                logits.append(model(x_test[i:i + 1000]).float().cpu())
        model.train()
        logits = torch.cat(logits)
        probs = torch.softmax(logits.double(), 1).numpy()
        y_pred = logits.argmax(1).numpy().astype(np.int64)
        m = sd_metrics.compute(self.split.y_test, y_pred, probs, train_counts=self.split.train_counts)
        self.run.log_eval(split="test", metrics=m, epoch=epoch, stage="cnn")
        print(f"CNN epoch {epoch}: {sd_metrics.summary_line(m)}")
        return {"epoch": epoch, "y_pred": torch.from_numpy(y_pred), "probs": torch.from_numpy(probs),
                "logits": logits}

    def finish(self, reported: dict) -> dict:
        from sklearn.metrics import classification_report

        cfg = self.cfg
        y_pred = reported["y_pred"].numpy()
        probs = reported["probs"].numpy()
        self.run.save_predictions(y_true=self.split.y_test.astype(np.int64), y_pred=y_pred, scores=probs,
                                  logits=reported["logits"].numpy())
        report = classification_report(self.split.y_test, y_pred, labels=list(range(cfg["n_classes"])),
                                       zero_division=0)
        records.atomic_write_bytes(self.path / "classification_report.txt",
                                   f"epoch {reported['epoch']}\n{report}".encode())
        m = sd_metrics.compute(self.split.y_test, y_pred, probs, train_counts=self.split.train_counts)
        stages = self._stages()
        wall = sum(v["seconds"] for k, v in stages.items() if k in STAGES)
        extra = {"reported_epoch": reported["epoch"], "stages": stages,
                 "forced_deviations": cfg.get("forced_deviations", []),
                 "deterministic": cfg.get("deterministic_settings", {})}
        if cfg["model"] != "baseline":
            cmap = json.loads((self.path / "category_map.json").read_text())
            extra["category_map"] = cmap["class_to_code"]
            extra["hinge_open_batches"] = sum(stages.get("gan", {}).get("hinge_open", []))
            extra["gan_iterations"] = stages.get("gan", {}).get("iterations")
            extra["gan"] = stages.get("gan", {}).get("source") or "trained in this run"
        result = records.make_result(
            method="imsic", framework=records.framework_version("torch"), split=self.split, seed=cfg["seed"],
            budget=cfg["budget"], device=cfg["device_description"], wall_time_s=wall, metrics=m, config=cfg,
            variant=self.variant, paper_method=None if cfg["model"] == "baseline" else self.paper_method,
            extra=extra)
        return result
