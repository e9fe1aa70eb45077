"""Which categorical code of a released IMSIC GAN draws which class, judged by a classifier that knows every class.

    python studies/map_study.py --dataset fashion --out docs/map_study_fashion.json

The map stage's classifier trains on the imbalanced split for a few epochs, so its verdict on the rare classes is
weak. This study trains the same ``ConvNet`` on the whole balanced official training set instead (2 epochs, Adam
1e-3, batch 128, seed 0), generates 500 images per code under four generation settings (z ~ N(0, 1), N(0, 0.2²),
N(0, 0.5²) with continuous codes 0, and the released Fashion settings: z ~ N(0, 0.2²), codes [0, 0, 4.9·N(0, 1)]),
and writes, per setting, the code x class matrix of mean probabilities, the Hungarian map, and how well the
authors' table fits it read either way (class -> code as ``utils.py`` uses it, or code -> class).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imsic import data as D  # noqa: E402
from imsic import released  # noqa: E402
from imsic.category_map import hungarian  # noqa: E402
from imsic.nets import ConvNet, Generator  # noqa: E402
from shared_data import config  # noqa: E402
from shared_data.readers import load_dataset  # noqa: E402

SETTINGS = {"z ~ N(0, 1), codes 0": (1.0, None), "z ~ N(0, 0.2^2), codes 0": (0.2, None),
            "z ~ N(0, 0.5^2), codes 0": (0.5, None), "released Fashion: z ~ N(0, 0.2^2), c3 = 4.9 N(0, 1)": (0.2, 4.9)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("mnist", "fashion"), required=True)
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--data-root", default="data")
    p.add_argument("--mirror", action="append", default=[])
    p.add_argument("--per-code", type=int, default=500)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    ds = load_dataset(a.dataset, a.data_root, a.mirror)
    cdim = released.code_dim(a.dataset)
    g = Generator(cdim, 0.8, 62, 10)
    g.load_state_dict(released.load(a.dataset, a.data_root, a.mirror)["generator"])
    g.eval()
    torch.manual_seed(0)
    x, y = D.to_model_input(ds.x_train), torch.from_numpy(ds.y_train.astype(np.int64))
    clf = ConvNet(10)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    for _ in range(2):
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(clf(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.eval()
    with torch.no_grad():
        xt = D.to_model_input(ds.x_test)
        pred = torch.cat([clf(xt[i:i + 1000]) for i in range(0, len(xt), 1000)]).argmax(1).numpy()
    test_recall = [float((pred[ds.y_test == c] == c).mean()) for c in range(10)]
    authors = list(config.load("configs", a.dataset, "full")["hardcoded_map"])  # class -> code, as utils.py uses it
    inverse = [authors.index(c) for c in range(10)]  # the same table read as code -> class
    rs = np.random.RandomState(0)
    out = {"dataset": a.dataset, "gan": released.LABEL, "classifier_test_accuracy": float((pred == ds.y_test).mean()),
           "classifier_test_recall": test_recall, "authors_class_to_code": authors, "settings": {}}
    for name, (zstd, factor) in SETTINGS.items():
        probs = np.zeros((10, 10))
        with torch.no_grad():
            for k in range(10):
                z = torch.from_numpy(rs.normal(0, zstd, (a.per_code, 62)).astype(np.float32))
                code = torch.zeros(a.per_code, cdim)
                if factor is not None and cdim >= 3:
                    code[:, 2] = torch.randn(a.per_code) * factor
                label = D.to_categorical(np.full(a.per_code, k), 10)
                probs[k] = torch.softmax(clf(g(z, label, code)).double(), 1).mean(0).numpy()
        m = hungarian(probs)
        out["settings"][name] = {
            "class_to_code": m, "matched_mean_prob": [round(float(probs[m[c], c]), 4) for c in range(10)],
            "mean_probs_code_by_class": probs.round(4).tolist(),
            "authors_agree_class_to_code": int(sum(p == q for p, q in zip(m, authors))),
            "authors_agree_code_to_class": int(sum(p == q for p, q in zip(m, inverse))),
            "authors_mean_matched_prob": round(float(np.mean([probs[authors[c], c] for c in range(10)])), 4),
            "authors_inverse_mean_matched_prob": round(float(np.mean([probs[inverse[c], c] for c in range(10)])), 4)}
        print(f"{name}: map {m}; authors' table agrees on {out['settings'][name]['authors_agree_class_to_code']} "
              f"classes (read code -> class: {out['settings'][name]['authors_agree_code_to_class']}); its mean "
              f"matched probability {out['settings'][name]['authors_mean_matched_prob']:.3f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
