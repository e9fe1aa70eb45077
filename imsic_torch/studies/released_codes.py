"""The code-by-code picture of a released IMSIC GAN, each row labelled with the class that the authors' table and,
optionally, a run's map assign to that categorical code.

    python studies/released_codes.py --dataset mnist --grid docs/released_gan_mnist_codes.png
    python studies/released_codes.py --dataset fashion --grid docs/released_gan_fashion_codes.png \\
        --map runs/imsic/<run>/category_map.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixes import FIXES  # noqa: E402
from imsic import released  # noqa: E402
from imsic.nets import Generator  # noqa: E402
from shared_data import config, variants  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("mnist", "fashion"), required=True)
    p.add_argument("--grid", required=True, help="PNG file to write")
    p.add_argument("--data-root", default="data")
    p.add_argument("--mirror", action="append", default=[])
    p.add_argument("--map", default=None, help="a run's category_map.json: label rows with its classes too")
    a = p.parse_args(argv)
    cfg = {**config.load("configs", a.dataset, "full"), **variants.values({}, FIXES)}
    blob = released.load(a.dataset, a.data_root, a.mirror)
    g = Generator(released.code_dim(a.dataset), cfg["bn_eps"], cfg["latent_dim"], cfg["n_classes"])
    g.load_state_dict(blob["generator"])
    g.eval()
    authors = cfg["hardcoded_map"]  # class -> code
    ours = json.loads(Path(a.map).read_text())["class_to_code"] if a.map else None
    labels = []
    for k in range(cfg["n_classes"]):
        text = f"code {k}: authors {authors.index(k) if k in authors else '-'}"
        if ours is not None:
            text += f", auto {ours.index(k) if k in ours else '-'}"
        labels.append(text)
    settings = ("z ~ N(0, 0.5²), continuous codes 0" if cfg["gen_code"] == "zeros"
                else f"z ~ N(0, {cfg['gen_z_std']}²), codes [0, 0, {cfg['gen_code_factor']}·N(0, 1)]")
    released.save_code_grid(a.grid, released.code_grid(g, cfg),
                            f"released {a.dataset} GAN ({released.LABEL}): one row per categorical code\n"
                            f"{settings}; left: the class each map sends to that code", labels)
    print(f"wrote {a.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
