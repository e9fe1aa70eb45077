"""One GAN iteration under a fixed seed; the hidden torch draws of the original's data loaders."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from configs import get_config
from imsic import rng
from imsic.gan import GANTrainer, gan_subset_indices


def _trainer(**over):
    torch.set_num_threads(1)
    cfg = get_config("mnist", "smoke")
    cfg.update({"seed": 0, "structure_loss": "hinge", "single_softmax": False, "bn_eps": 0.8, "edges": "code",
                "edges_clip": False}, **over)
    x = np.random.RandomState(1).randint(0, 256, (128, 28, 28, 1)).astype(np.uint8)
    return GANTrainer(cfg, torch.device("cpu"), x_real=x, progress=False)


def test_one_gan_step_losses_under_a_fixed_seed():
    t = _trainer()
    g0 = [p.detach().clone() for p in t.g.parameters()]
    d0 = [p.detach().clone() for p in t.d.parameters()]
    out = t.step(t.x[:64])
    # values of this port on the CPU (torch 2.13, 1 thread); the info loss is ~ln 10 because of the double
    # softmax: the class head's near-uniform probabilities go through a second softmax
    assert out["g_loss"] == pytest.approx(EXPECTED["g_loss"], rel=1e-4)
    assert out["d_loss"] == pytest.approx(EXPECTED["d_loss"], rel=1e-4)
    assert out["info_loss"] == pytest.approx(EXPECTED["info_loss"], rel=1e-5)
    assert abs(out["info_loss"] - np.log(10)) < 1e-3
    assert out["structure_loss"] == 0.0 and out["hinge_open"] is False
    # with the hinge closed nothing depends on the latent head: it has no gradient and keeps its initial
    # weights (as in the shipped Fashion checkpoint); every parameter of G moved
    latent = dict(t.d.named_parameters())["latent_layer.0.weight"]
    latent0 = d0[[n for n, _ in t.d.named_parameters()].index("latent_layer.0.weight")]
    assert torch.equal(latent.detach(), latent0)
    assert all(not torch.equal(a, b.detach()) for a, b in zip(g0, t.g.parameters()))


EXPECTED = {"g_loss": 0.9408203959465027, "d_loss": 0.47105568647384644, "info_loss": 2.3026716709136963}


def test_single_softmax_changes_the_info_loss():
    out = _trainer(single_softmax=True).step(_trainer().x[:64])
    assert abs(out["info_loss"] - np.log(10)) > 1e-3


def test_loader_emulation_equals_a_shuffled_dataloader():
    for n in (40, 150, 9000):
        torch.manual_seed(5)
        dl = DataLoader(TensorDataset(torch.arange(n)), batch_size=64, shuffle=True)
        expected = torch.cat([b[0] for b in dl])
        after = torch.rand(3)
        torch.manual_seed(5)
        assert torch.equal(rng.shuffled_loader_order(n), expected)
        assert torch.equal(torch.rand(3), after)  # the global stream is left where the loader leaves it
    torch.manual_seed(5)
    next(iter(DataLoader(TensorDataset(torch.arange(10)), batch_size=10)))
    after = torch.rand(3)
    torch.manual_seed(5)
    rng.loader_iter_draw()
    assert torch.equal(torch.rand(3), after)


def test_gan_subset_is_the_originals_per_class_randperm():
    y = np.random.RandomState(2).randint(0, 10, 2000)
    counts = [50, 40, 30, 20, 10, 9, 8, 7, 6, 5]
    torch.manual_seed(0)
    torch.rand(17)  # stands for G and D initialisation
    got = gan_subset_indices(y, counts)
    torch.manual_seed(0)
    torch.rand(17)
    ref = []
    for c, n in enumerate(counts):  # utils.get_imbalanced_dataset: no re-seeding between classes
        pos = np.flatnonzero(y == c)
        ref.append(pos[torch.randperm(len(pos)).numpy()[:n]])
    np.testing.assert_array_equal(got, np.concatenate(ref))
    assert np.bincount(y[got]).tolist() == counts
