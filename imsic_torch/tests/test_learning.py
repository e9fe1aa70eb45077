"""Learning test: 300 GAN iterations on a small MNIST split reach a recorded band (marked ``learning``).

Narrow nets (16x16 images, widths 16/16/8 and 8/16/16/16, 8 noise units, 3 categorical codes) on 600 MNIST
digits (0, 1 and 7, 200 each), batch 32, through ``GANTrainer.step`` with the port's default config (the
original's losses, optimisers and constants). Two numbers, each needing both players:
- D's class head names the categorical code of G's images (the info step, experiment.py L77-93): chance 1/3
  at the start; recorded 0.95 after 300 iterations (torch 2.13, one thread). A frozen G or D stays at 1/3.
- The mean absolute difference between the mean generated image and the mean real image (the adversarial
  steps, L55-75): 0.703 at the start, recorded 0.635; a frozen D drives it up (0.89), a frozen G keeps 0.703.
About 30 s on one idle core (60 s on the loaded 2-core development machine).
"""
import numpy as np
import pytest
import torch

import run as imsic_run
from imsic import data as D
from imsic import rng
from imsic.gan import GANTrainer

STEPS, BATCH, CLASSES = 300, 32, (0, 1, 7)


@pytest.mark.learning
def test_gan_learns_on_a_small_split(mirror, tmp_path):
    from shared_data.readers import load_dataset

    torch.set_num_threads(1)
    ds = load_dataset("mnist", tmp_path, [mirror], download=False, quiet=True)
    rs = np.random.RandomState(0)
    idx = np.concatenate([rs.permutation(np.flatnonzero(ds.y_train == c))[:200] for c in CLASSES])
    args = imsic_run.parse_args(["--dataset", "mnist", "--budget", "smoke"])
    cfg = dict(imsic_run.configure(args), split_seed=0, seed=0)  # the port's defaults, fixes included
    cfg.update(n_classes=len(CLASSES), img_size=16, g_widths=(16, 16, 8), d_widths=(8, 16, 16, 16), latent_dim=8,
               batch_size=BATCH)
    t = GANTrainer(cfg, torch.device("cpu"), x_real=ds.x_train[idx], progress=False)
    real_mean = t.x.mean(0)

    def measure():
        g = torch.Generator().manual_seed(1)
        codes = np.repeat(np.arange(len(CLASSES)), 64)
        with torch.no_grad():
            z = torch.randn(len(codes), cfg["latent_dim"], generator=g)
            c = torch.rand(len(codes), cfg["code_dim"], generator=g) * 2 - 1
            img = t.g(z, D.to_categorical(codes, len(CLASSES)), c)
            t.d.eval()
            _, probs, _ = t.d(img)
            t.d.train()
        return float((probs.argmax(1).numpy() == codes).mean()), float((img.mean(0) - real_mean).abs().mean())

    acc0, dist0 = measure()
    step, opened = 0, 0
    while step < STEPS:  # train_epoch's loop without the image grids (they assume 10 codes)
        order = rng.shuffled_loader_order(t.n)
        for i in range(min(t.n // BATCH, STEPS - step)):
            out = t.step(t.x[order[i * BATCH:(i + 1) * BATCH]])
            opened += out["hinge_open"]
            step += 1
    acc, dist = measure()
    assert acc0 == pytest.approx(1 / 3, abs=0.05) and dist0 > 0.69
    assert acc >= 0.85, f"D's class head names G's code for {acc:.3f} of the images (recorded 0.95)"
    assert 0.55 <= dist <= 0.66, f"mean-image distance {dist:.3f} (start {dist0:.3f}, recorded 0.635)"
    assert opened == 0  # the structure hinge stays closed on typical batches
