"""GAMO learns: 300 iterations of the real training loop on a small imbalanced MNIST split reach recorded bands.

The split: digits 0-3 with 200, 60, 25 and 10 training images (the first occurrences in the official training
file), 50 test images per digit, all average-pooled 2x2 to 14x14 so the test stays small; the networks,
losses and every constant are configs/mnist.py's (pixel-space variant). ``Trainer.train`` runs 300 iterations
(``max_step`` 600), then three things are measured on fresh draws:

- M: the test ACSA (a frozen M or a broken classification loss leaves it near chance);
- D: mean D(real) minus mean D(fake) on 256 real training rows and 256 fakes (a frozen D or a broken
  adversarial target leaves no gap or a negative one);
- G: mean D(fake) and mean D(real) themselves. G is trained to raise D(fake) (target 1) while D lowers it
  (target U(0, 0.1)); a frozen G lets D reach its targets on both (D(fake) near 0.05, D(real) near 0.95).

Recorded on a 2-core AMD EPYC CPU (TensorFlow backend, no XLA): ACSA 0.895, D(real) 0.849, D(fake) 0.103.
Frozen players, measured the same way: frozen M gives ACSA 0.27; frozen D gives D(real) 0.759, D(fake) 0.830
(gap -0.07); frozen G gives D(real) 0.955, D(fake) 0.051. The bands are wide because a few hundred GAN steps are chaotic: another CPU or backend sums in
another order and ends elsewhere. Marked ``learning`` (not ``slow``), so ``make test`` runs it; about a minute
on one core, most of it compiling the iteration.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.learning

from conftest import load_config
from gamo import backend
from gamo import data as gd
from gamo.train import Trainer

COUNTS = (200, 60, 25, 10)  # digits 0-3: imbalance ratio 20
ITERATIONS = 300

# recorded bands (see the module docstring)
ACSA_BAND = (0.80, 0.97)
D_GAP_BAND = (0.45, 0.88)
D_FAKE_BAND = (0.07, 0.35)
D_REAL_MAX = 0.93


def _pool(x):
    n, h, w, c = x.shape
    return np.round(x.reshape(n, h // 2, 2, w // 2, 2, c).mean((2, 4))).astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from shared_data.fetch import DataError
    from shared_data.readers import load_dataset

    try:
        ds = load_dataset("mnist", data_root=tmp_path_factory.mktemp("data"), download=False, quiet=True)
    except DataError as exc:
        pytest.skip(f"MNIST not available offline: {exc}")
    tr = np.concatenate([np.flatnonzero(ds.y_train == c)[:n] for c, n in enumerate(COUNTS)])
    te = np.concatenate([np.flatnonzero(ds.y_test == c)[:50] for c in range(len(COUNTS))])
    prep = gd.prepare(_pool(ds.x_train[tr]), ds.y_train[tr], _pool(ds.x_test[te]), ds.y_test[te], list(COUNTS),
                      flatten=True, transpose=False, shuffle_rng=np.random.default_rng(0))
    cfg = load_config("mnist", "full", image_shape=(14, 14, 1), max_step=2 * ITERATIONS,
                       eval_every_steps=2 * ITERATIONS, save_every_steps=2 * ITERATIONS, xla=False, max_segment=100)
    trainer = Trainer(cfg, prep, seed=0, progress=False, log=lambda *_: None)
    evals = []
    assert trainer.train(on_eval=evals.append)
    return trainer, prep, evals


def test_classifier_learns(trained):
    trainer, prep, evals = trained
    pred = evals[-1].test_prob.argmax(1)
    acsa = np.mean([(pred[prep.y_test == c] == c).mean() for c in range(len(COUNTS))])
    assert ACSA_BAND[0] <= acsa <= ACSA_BAND[1], f"test ACSA {acsa:.3f} outside {ACSA_BAND}"


def _d_outputs(trainer, prep):
    p = trainer.state["p"]
    rng = np.random.default_rng(123)
    n = 256
    z = rng.standard_normal((n, trainer.cfg.latent_dim)).astype(np.float32)
    labels = gd.draw_fake_labels(rng.random(n), prep.to_balance)
    fake, c = trainer.game.fake_batch(p, backend.to_device(z), backend.to_device(labels), trainer.x_cat)
    d_real = float(backend.to_numpy(trainer.game.d_prob(p["D"], trainer.x[:n], trainer.y[:n])).mean())
    d_fake = float(backend.to_numpy(trainer.game.d_prob(p["D"], fake, c)).mean())
    return d_real, d_fake


def test_discriminator_separates_real_from_fake(trained):
    trainer, prep, _ = trained
    d_real, d_fake = _d_outputs(trainer, prep)
    gap = d_real - d_fake
    assert D_GAP_BAND[0] <= gap <= D_GAP_BAND[1], f"D(real) {d_real:.3f} - D(fake) {d_fake:.3f} outside {D_GAP_BAND}"


def test_generator_keeps_fooling_the_discriminator(trained):
    trainer, prep, _ = trained
    d_real, d_fake = _d_outputs(trainer, prep)
    assert D_FAKE_BAND[0] <= d_fake <= D_FAKE_BAND[1], f"D(fake) {d_fake:.3f} outside {D_FAKE_BAND}"
    assert d_real <= D_REAL_MAX, f"D(real) {d_real:.3f} above {D_REAL_MAX}: D separates too easily"
