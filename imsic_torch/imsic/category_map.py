"""Categorical code -> class map for a GAN trained here (a project construction).

The released code maps classes to codes by a table found by eye for its shipped checkpoints
(``source/utils.py`` L319, L328), which a re-trained GAN does not reproduce. Here: train the CNN of ``net.py``
on the real imbalanced subset, generate images for every code with the dataset's generation settings, average
the classifier's probabilities per code, and assign codes to classes one to one by the Hungarian algorithm
(maximum total mean probability).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from . import data as D
from .nets import ConvNet


def hungarian(mean_probs: np.ndarray) -> list[int]:
    """``mean_probs[code, class]`` -> ``class_to_code`` (one code per class) maximising the total probability."""
    p = np.asarray(mean_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"need a square codes x classes matrix, got shape {p.shape}")
    codes, classes = linear_sum_assignment(p, maximize=True)
    out = [0] * p.shape[1]
    for k, c in zip(codes, classes):
        out[int(c)] = int(k)
    return out


def generation_inputs(cfg: dict, code_index: int, n: int, rs: np.random.RandomState):
    """The dataset's generation settings (MNIST: z ~ N(0, 0.5^2), codes 0; Fashion: z ~ N(0, 0.2^2),
    codes [0, 0, 4.9 N(0, 1)])."""
    z = torch.from_numpy(rs.normal(0, cfg["gen_z_std"], (n, cfg["latent_dim"])).astype(np.float32))
    code = torch.zeros(n, cfg["code_dim"])
    if cfg["gen_code"] == "fashion":
        code[:, 2] = torch.from_numpy(rs.normal(0, 1, n).astype(np.float32)) * cfg["gen_code_factor"]
    return z, D.to_categorical(np.full(n, code_index), cfg["n_classes"]), code


def train_classifier(cfg: dict, x: np.ndarray, y: np.ndarray, device, progress=True) -> ConvNet:
    torch.manual_seed(cfg["seed"] + 7)
    rs = np.random.RandomState([cfg["seed"], 7])
    xt = D.to_model_input(x).to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    model = ConvNet(cfg["n_classes"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["cnn_lr"])
    bs, n = cfg["batch_size"], len(yt)
    n_batches = -(-n // bs)
    steps = min(cfg["map_steps_per_epoch"] or n_batches, n_batches)
    for epoch in range(cfg["map_epochs"]):
        order = torch.from_numpy(rs.permutation(n)).to(device)
        for it in tqdm(range(steps), desc=f"map classifier epoch {epoch + 1}", leave=False, disable=not progress):
            idx = order[it * bs:(it + 1) * bs]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def mean_probabilities(cfg: dict, generator, classifier, device) -> np.ndarray:
    rs = np.random.RandomState([cfg["seed"], 8])
    n = cfg["map_samples_per_code"]
    out = np.zeros((cfg["n_classes"], cfg["n_classes"]))
    for k in range(cfg["n_classes"]):
        z, label, code = generation_inputs(cfg, k, n, rs)
        imgs = generator(z.to(device), label.to(device), code.to(device))
        out[k] = torch.softmax(classifier(imgs).double(), 1).mean(0).cpu().numpy()
    return out


@torch.no_grad()
def train_recall(classifier, x: np.ndarray, y: np.ndarray, n_classes: int, device, batch: int = 1000) -> list:
    """The map classifier's recall of each class over the whole training split: how far its verdict on the
    generated images of each class can be trusted (the splits are ordered by class, so a leading slice would
    measure one class only)."""
    pred = np.concatenate([classifier(D.to_model_input(x[i:i + batch]).to(device)).argmax(1).cpu().numpy()
                           for i in range(0, len(x), batch)])
    return [round(float((pred[y == c] == c).mean()), 6) if (y == c).any() else None for c in range(n_classes)]


def build_map(cfg: dict, generator, x_real, y_real, device, log=None, progress=True) -> dict:
    clf = train_classifier(cfg, x_real, y_real, device, progress)
    recall = train_recall(clf, x_real, y_real, cfg["n_classes"], device)
    probs = mean_probabilities(cfg, generator, clf, device)
    class_to_code = hungarian(probs)
    matched = [float(probs[class_to_code[c], c]) for c in range(cfg["n_classes"])]
    result = {"method": "auto (Hungarian on mean classifier probabilities)", "class_to_code": class_to_code,
              "mean_probs_code_by_class": probs.round(6).tolist(), "matched_mean_prob": matched,
              "classifier_train_recall_per_class": recall,
              "classifier_train_balanced_accuracy": round(float(np.mean(recall)), 6),
              "samples_per_code": cfg["map_samples_per_code"]}
    if log is not None:
        log({"stage": "map", "class_to_code": class_to_code, "matched_mean_prob": matched,
             "classifier_train_recall_per_class": recall})
    return result
