"""GAMO2pix pieces: the class's batches and the VAE loss (784 x MSE + KL with z_sigma as log-variance)."""
import numpy as np
import pytest

from conftest import tiny_config
from gamo import backend
from gamo.gamo2pix import ClassVAE, class_batches


def test_class_batches_are_sequential_with_a_masked_short_last_batch():
    rows, mask = class_batches(40, 32, 0, 3)  # the 40-image class: batches of 32 and 8, then again
    assert rows[0].tolist() == list(range(32)) and mask[0].sum() == 32
    assert rows[1, :8].tolist() == list(range(32, 40)) and mask[1].tolist() == [1] * 8 + [0] * 24
    assert rows[2].tolist() == list(range(32))


@pytest.mark.parametrize("consistent", [False, True])
def test_vae_loss_is_pixels_times_mse_plus_kl(consistent):
    cfg = tiny_config(variant="conv", shape=(8, 8, 1), vae_logvar_consistent=consistent, gamo2pix_latent=3,
                      gamo2pix_hidden=5)
    vae = ClassVAE(cfg, 16)
    p = backend.to_device(vae.initial_state()["p"])
    rng = np.random.default_rng(0)
    feats = rng.uniform(-1, 1, (4, 16)).astype(np.float32)
    images = rng.uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    eps = rng.standard_normal((4, 3)).astype(np.float32)
    mask = np.array([1, 1, 1, 0], np.float32)
    got = float(backend.to_numpy(vae.loss(p, *backend.to_device([feats, images, eps, mask]))))
    zm, zs, z = [backend.to_numpy(a) for a in vae.encode(p["H"], backend.to_device(feats), backend.to_device(eps))]
    np.testing.assert_allclose(z, zm + np.exp((0.5 if consistent else 1.0) * zs) * eps, rtol=1e-5, atol=1e-6)
    rec = backend.to_numpy(vae.decode(p["Dec"], backend.to_device(z)))
    mse = ((rec - images) ** 2).reshape(4, -1).mean(1)[:3].mean()
    kl = (-0.5 * (1 + zs - zm ** 2 - np.exp(zs)).sum(1))[:3].mean()
    assert got == pytest.approx(64 * mse + kl, rel=1e-5)


def test_one_adam_counter_runs_through_every_class(tmp_path):
    """The released GAMO2pix passes one Adam object to every class's compile (fashion_mnist_gamo2pix_main.py
    L41, L81): each class starts with new moments, but the iteration counter goes on from the previous class."""
    from conftest import tiny_problem
    from gamo.gamo2pix import run_stage
    from gamo.train import Trainer, latest_checkpoint, load_state

    steps = 3
    cfg = tiny_config(variant="conv", shape=(8, 8, 1), gamo2pix_steps=steps, gamo2pix_save_every=steps,
                      gamo2pix_latent=3, gamo2pix_hidden=5)
    prep = tiny_problem(counts=(13, 6, 3), shape=(8, 8, 1), flatten=False)
    trainer = Trainer(cfg, prep, seed=1, progress=False, log=lambda *_: None)
    trainer.init_state()
    trainer.refresh_features()
    out = tmp_path / "gamo2pix"
    assert run_stage(cfg, trainer, prep, out, seed=1, progress=False) == [out / "samples.png",
                                                                          out / "reconstructions.png"]
    assert (out / "samples.png").exists() and (out / "reconstructions.png").exists()
    folders = sorted(out.glob("checkpoints/class_*"))
    assert [f.name for f in folders] == ["class_0", "class_1"]
    vae = ClassVAE(cfg, cfg.feature_dim)
    for k, folder in enumerate(folders):
        state, meta = load_state(latest_checkpoint(folder), vae.initial_state())
        assert meta["step"] == steps
        assert float(state["t"]) == (k + 1) * steps  # class 1 starts where class 0 stopped
