"""Losses, regularisers and the attention mask of ``train.py`` (opensuh/DFG@fa1218f), as pure functions.

The regularisers are DELTA's (lixingjian/DELTA ``train.py``): squared feature-map distances to the frozen source
network weighted per channel by softmax(zscore(w) / 5), summed over the batch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import autograd


def channel_weights(vector, device=None) -> torch.Tensor:
    """softmax(zscore(v) / 5) with the population std (train.py L916-920, L937-941)."""
    v = np.asarray(vector, dtype=np.float64)
    z = (v - v.mean()) / v.std()
    return F.softmax(torch.from_numpy(z).float() / 5, dim=0).to(device)


def feature_map_distance(target: torch.Tensor, source: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """0.5 * sum_b sum_c C * w_c * ||F_t[b,c] - F_s[b,c]||^2 / (H W), source detached (train.py L490-513)."""
    b, c, h, w = source.shape
    sq = (target - source.detach()).flatten(2).pow(2).sum(2)  # (B, C)
    return 0.5 * torch.sum(c * weights * sq / (h * w))


def fc_decay(layer: torch.nn.Linear) -> torch.Tensor:
    """0.5 ||W||^2 + 0.5 ||b||^2 of the last layer: decay towards zero (train.py L515-520)."""
    return 0.5 * layer.weight.pow(2).sum() + 0.5 * layer.bias.pow(2).sum()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP term as train.py L523-541 computes it: 1e-16 is added to the flattened gradient before the norm."""
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad = autograd.grad(critic(interp).sum(), interp, create_graph=True)[0]
    return ((grad.flatten(1) + 1e-16).norm(2, dim=1) - 1).pow(2).mean()


def critic_loss(critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, lambda_gp: float):
    """(L_D, GP) with L_D = mean D(fake) - mean D(real) + lambda_gp GP, in ONE critic call on [fake; real; x_hat].

    The critic has no batch-dependent layer, so one call on the concatenation equals the original's three calls
    (train.py L543-571); the gradient penalty differentiates the x_hat third only.
    """
    n = real.shape[0]
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(torch.cat([fake, real, interp]))
    d_fake, d_real, d_interp = out[:n], out[n:2 * n], out[2 * n:]
    grad = autograd.grad(d_interp.sum(), interp, create_graph=True)[0]
    gp = ((grad.flatten(1) + 1e-16).norm(2, dim=1) - 1).pow(2).mean()
    return d_fake.mean() - d_real.mean() + lambda_gp * gp, gp


def critic_loss_affine(critic, real: torch.Tensor, fake: torch.Tensor, lambda_gp: float):
    """:func:`critic_loss` for an AFFINE critic, D(x) = <w, x> + b: exact, with batch-1 cost.

    With the released code's ``nn.LeakyReLU(True)`` (slope 1) every layer of D is linear, so
    mean_i D(x_i) = D(mean_i x_i), and the input gradient is the same vector w at every x_hat, whatever alpha is:
    GP = (||w + 1e-16|| - 1)^2. One critic call on [mean fake; mean real; probe] gives the loss and, by double
    backward through the probe, the same parameter gradients as the batch computation (tests compare both).
    """
    probe = torch.zeros_like(real[:1]).requires_grad_(True)  # any point: the gradient of an affine map is constant
    out = critic(torch.cat([fake.mean(0, keepdim=True), real.mean(0, keepdim=True), probe]))
    grad = autograd.grad(out[2].sum(), probe, create_graph=True)[0]
    gp = ((grad.flatten(1) + 1e-16).norm(2, dim=1) - 1).pow(2).mean()
    return out[0, 0] - out[1, 0] + lambda_gp * gp, gp


def attention_mask(attention, threshold: float) -> np.ndarray:
    """Keep A[k, c] where C * A[k, c] >= threshold, else 0; kept values are not renormalised
    (0.9 at the start of the GAN phase, train.py L924-928; 0.95 after an update, L768-771)."""
    a = np.asarray(attention, dtype=np.float64)
    return np.where(a * a.shape[1] >= threshold, a, 0.0)


def class_attention(importance: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """K x C: per-sample softmax over channels of the filter importance, averaged per class (train.py L445-467)."""
    w = np.asarray(importance, dtype=np.float64)
    e = np.exp(w - w.max(axis=1, keepdims=True))
    soft = e / e.sum(axis=1, keepdims=True)
    out = np.zeros((num_classes, w.shape[1]))
    for k in range(num_classes):
        rows = soft[labels == k]
        if len(rows):
            out[k] = rows.mean(axis=0)
    return out


def generated_labels(n: int, dist: str, num_classes: int, train_counts, minority_classes, generator) -> torch.Tensor:
    """Labels of a generated batch: ``uniform`` over all K classes (utils.py L5), ``minority`` uniform over the
    minority classes, ``deficit`` proportional to n_max - n_c."""
    if dist == "uniform":
        return torch.randint(0, num_classes, (n,), generator=generator)
    if dist == "minority":
        pool = torch.as_tensor(list(minority_classes) or list(range(num_classes)))
        return pool[torch.randint(0, len(pool), (n,), generator=generator)]
    if dist == "deficit":
        counts = torch.as_tensor(train_counts, dtype=torch.float64)
        p = counts.max() - counts
        p = p if p.sum() > 0 else torch.ones_like(p)
        return torch.multinomial(p / p.sum(), n, replacement=True, generator=generator)
    raise ValueError(f"unknown generated-label distribution {dist!r}")
