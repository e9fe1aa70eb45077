"""GAN stage: ``experiment.py`` (fudonglin/IMSIC@649abbd) for one λ_con grid point.

Per iteration, on a real batch of B images (B = 64, the epoch's last batch smaller):
  1. G step:  z ~ N(0, 1), y ~ U{0..9}, c ~ U(-1, 1) (numpy); MSE(D_adv(G(z, y, c)), 1)            (L55-65)
  2. D step:  ½ [MSE(D_adv(x), 1) + MSE(D_adv(G(z, y, c).detach()), 0)], the step-1 images          (L67-75)
  3. info step, one Adam over G's and D's parameters: fresh y, z, c;
     λ_cat · CE(class head, y) + λ_con · structure loss                                              (L77-93)
Image grids every ``sample_interval`` batches (batch 0 included), as ``utils.sample_image2``; a resume point every
``resume_every`` epochs (one by default: a stop loses at most one epoch) and G and D snapshots every
``checkpoint_every`` epochs and at the end, with everything needed to resume bit for bit on the CPU.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import data as D
from . import io, rng
from .losses import edge_lists, structure_loss
from .nets import D_WIDTHS, G_WIDTHS, Discriminator, Generator, weights_init_normal

FINAL = "gan_final.pt"


def build_gan(cfg: dict):
    """``utils.init_GAN``: G, then D, with PyTorch's default initialisation, then ``weights_init_normal``
    applied to G and to D (this order of draws from the global generator is part of the faithful stream)."""
    # g_widths / d_widths: absent in every config (the released widths); the reference-step test narrows them
    g = Generator(cfg["code_dim"], cfg["bn_eps"], cfg["latent_dim"], cfg["n_classes"], cfg["img_size"],
                  widths=cfg.get("g_widths", G_WIDTHS))
    d = Discriminator(cfg["code_dim"], cfg["bn_eps"], cfg["single_softmax"], cfg["n_classes"], cfg["img_size"],
                      widths=cfg.get("d_widths", D_WIDTHS))
    g.apply(weights_init_normal)
    d.apply(weights_init_normal)
    return g, d


def gan_subset_indices(y_official: np.ndarray, counts) -> np.ndarray:
    """``utils.get_imbalance_dataloader``: per class in label order, ``torch.randperm`` over that class's
    positions from the global generator (not re-seeded), first n_c; classes concatenated."""
    out = []
    for c, n in enumerate(counts):
        pos = np.flatnonzero(y_official == c)
        out.append(pos[torch.randperm(len(pos)).numpy()[:n]])
    return np.concatenate(out)


def seed_everything(seed: int) -> None:
    """``experiment.py`` L12-15: torch and numpy seeded, cuDNN deterministic, benchmark off."""
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


class GANTrainer:
    """One grid point. ``x_real`` is ``None`` when the subset is drawn here from ``official`` (the original);
    with ``shared_real_subset`` the caller passes the CNN's real images."""

    def __init__(self, cfg: dict, device: torch.device, run=None, official=None, x_real=None, progress=True):
        self.cfg, self.device, self.run, self.progress = cfg, device, run, progress
        seed_everything(cfg["seed"])
        self.np_rng = np.random.RandomState(cfg["seed"])  # the original's global numpy stream
        g, d = build_gan(cfg)
        if x_real is None:  # drawn after G and D consumed the generator (experiment.py L32-40)
            idx = gan_subset_indices(official[1], cfg["gan_counts"])
            x_real = official[0][idx]
            self.subset_index = idx
        else:
            self.subset_index = None
        self.x = D.to_model_input(x_real, cfg["img_size"]).to(device)
        self.n = len(self.x)
        self.g, self.d = g.to(device), d.to(device)
        betas = (cfg["b1"], cfg["b2"])
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg["lr"], betas=betas)
        self.opt_info = torch.optim.Adam(itertools.chain(self.g.parameters(), self.d.parameters()), lr=cfg["lr"],
                                         betas=betas)
        self.positive, self.negative = edge_lists(cfg["edges"], cfg["code_dim"], cfg["edges_clip"])
        self.epoch = 0  # epochs completed
        self.hinge_open = []  # per epoch: batches in which the structure hinge opened
        self.n_batches = math.ceil(self.n / cfg["batch_size"])
        steps = cfg.get("gan_steps_per_epoch")
        self.steps = min(steps, self.n_batches) if steps else self.n_batches

    # -- the three updates ---------------------------------------------------------------------------------
    def _noise(self, b: int, labels=None):
        cfg, r = self.cfg, self.np_rng
        z = r.normal(0, 1, (b, cfg["latent_dim"]))
        y = r.randint(0, cfg["n_classes"], b) if labels is None else labels
        c = r.uniform(-1, 1, (b, cfg["code_dim"]))
        # float32 draws as the original's FloatTensor; in G's dtype (float32 except in the float64 reference test)
        dev, dt = self.device, next(self.g.parameters()).dtype
        return (torch.from_numpy(z.astype(np.float32)).to(dev, dt),
                D.to_categorical(y, cfg["n_classes"]).to(dev, dt), torch.from_numpy(c.astype(np.float32)).to(dev, dt),
                y)

    def step(self, real: torch.Tensor) -> dict:
        cfg, g, d = self.cfg, self.g, self.d
        b = real.shape[0]
        valid = torch.ones(b, 1, device=self.device, dtype=real.dtype)
        fake = torch.zeros(b, 1, device=self.device, dtype=real.dtype)
        # 1. G
        self.opt_g.zero_grad()
        z, y1h, c, _ = self._noise(b)
        gen = g(z, y1h, c)
        g_loss = F.mse_loss(d(gen)[0], valid)
        g_loss.backward()
        self.opt_g.step()
        # 2. D, on the images of step 1 (made before G's update)
        self.opt_d.zero_grad()
        d_loss = (F.mse_loss(d(real)[0], valid) + F.mse_loss(d(gen.detach())[0], fake)) / 2
        d_loss.backward()
        self.opt_d.step()
        # 3. info: labels drawn first, then z, then c (L79-83)
        self.opt_info.zero_grad()
        sampled = self.np_rng.randint(0, cfg["n_classes"], b)
        z, y1h, c, _ = self._noise(b, labels=sampled)
        _, pred_label, pred_code = d(g(z, y1h, c))
        s_loss, opened = structure_loss(c, pred_code, self.positive, self.negative, cfg["structure_loss"])
        gt = torch.from_numpy(sampled.astype(np.int64)).to(self.device)
        info_loss = cfg["lambda_cat"] * F.cross_entropy(pred_label, gt) + cfg["lambda_con"] * s_loss
        info_loss.backward()
        self.opt_info.step()
        return {"g_loss": g_loss.item(), "d_loss": d_loss.item(), "info_loss": info_loss.item(),
                "structure_loss": float(s_loss.item()), "hinge_open": bool(opened)}

    # -- sample grids (utils.sample_image2; G stays in training mode, as in the original) -------------------
    @torch.no_grad()
    def sample_grids(self, batches_done: int, out_dir=None) -> None:
        cfg, n_row = self.cfg, 10
        k = cfg["n_classes"]
        static_label = D.to_categorical(np.array([num for _ in range(k) for num in range(k)]), k).to(self.device)
        static_z = torch.zeros(k * k, cfg["latent_dim"], device=self.device)
        z = torch.from_numpy(self.np_rng.normal(0, 1, (n_row ** 2, cfg["latent_dim"])).astype(np.float32))
        static = self.g(z.to(self.device), static_label, torch.zeros(k * k, cfg["code_dim"], device=self.device))
        if out_dir is not None:
            io.save_grid(out_dir / "static" / f"{batches_done}.png", static, n_row)
        c_varied = np.repeat(np.linspace(-1, 1, n_row)[:, np.newaxis], n_row, 0)
        zeros = np.zeros((n_row ** 2, 1))
        for i in range(cfg["code_dim"]):
            cols = [zeros] * cfg["code_dim"]
            cols[i] = c_varied
            c = torch.from_numpy(np.concatenate(cols, -1).astype(np.float32)).to(self.device)
            sample = self.g(static_z, static_label, c)
            if out_dir is not None:
                io.save_grid(out_dir / f"varying_c{i + 1}" / f"{batches_done}.png", sample, n_row)

    # -- epochs, checkpoints -------------------------------------------------------------------------------
    def train_epoch(self, log=None, sample_dir=None) -> dict:
        cfg, bs = self.cfg, self.cfg["batch_size"]
        order = rng.shuffled_loader_order(self.n).to(self.device)  # DataLoader(shuffle=True) per epoch
        sums = {"g_loss": 0.0, "d_loss": 0.0, "info_loss": 0.0, "structure_loss": 0.0}
        opened, last = 0, None
        t0 = time.time()
        bar = tqdm(range(self.steps), desc=f"GAN epoch {self.epoch + 1}/{cfg['gan_epochs']}", leave=False,
                   disable=not self.progress)
        for i in bar:
            last = self.step(self.x[order[i * bs:(i + 1) * bs]])
            for k in sums:
                sums[k] += last[k]
            opened += last["hinge_open"]
            batches_done = self.epoch * self.n_batches + i
            if batches_done % cfg["sample_interval"] == 0:
                self.sample_grids(batches_done, sample_dir)
        self.hinge_open.append(opened)
        rec = {"stage": "gan", "epoch": self.epoch + 1, "batches": self.steps, "hinge_open_batches": opened,
               "seconds": time.time() - t0, **{f"mean_{k}": v / self.steps for k, v in sums.items()},
               **{f"last_{k}": last[k] for k in sums}}
        self.epoch += 1
        if log is not None:
            log(rec)
        return rec

    def state(self) -> dict:
        st = {"generator": self.g.state_dict(), "discriminator": self.d.state_dict(),
              "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
              "opt_info": self.opt_info.state_dict(), "epoch": self.epoch, "hinge_open": list(self.hinge_open),
              "torch_rng": torch.get_rng_state(), "np_rng": _np_state(self.np_rng),
              "code_dim": self.cfg["code_dim"], "bn_eps": self.cfg["bn_eps"],
              "single_softmax": self.cfg["single_softmax"], "lambda_con": self.cfg["lambda_con"]}
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return st

    def load_state(self, st: dict) -> None:
        self.g.load_state_dict(st["generator"])
        self.d.load_state_dict(st["discriminator"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.opt_info.load_state_dict(st["opt_info"])
        self.epoch, self.hinge_open = int(st["epoch"]), [int(v) for v in st["hinge_open"]]
        torch.set_rng_state(st["torch_rng"])
        if "cuda_rng" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        _np_set(self.np_rng, st["np_rng"])


def _np_state(r: np.random.RandomState) -> dict:
    name, keys, pos, has_gauss, cached = r.get_state()
    return {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def _np_set(r: np.random.RandomState, st: dict) -> None:
    r.set_state(("MT19937", st["keys"].numpy().astype(np.uint32), st["pos"], st["has_gauss"], st["cached"]))
