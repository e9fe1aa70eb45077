"""Exact values: parameter counts, the structure loss on a hand-worked batch, the edge lists."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imsic import losses
from imsic.nets import ConvNet, Discriminator, Generator, n_params


def test_parameter_counts():
    assert n_params(Generator(code_dim=4)) == 853_377
    assert n_params(Generator(code_dim=3)) == 845_185
    assert n_params(Discriminator(code_dim=4)) == 105_295
    assert n_params(Discriminator(code_dim=3)) == 104_782
    assert n_params(ConvNet()) == 4_159_106


def test_batchnorm_eps_as_released():
    g, d = Generator(), Discriminator()
    assert [m.eps for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)] == [1e-5, 0.8, 0.8]
    assert [m.eps for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)] == [0.8, 0.8, 0.8]
    assert all(m.eps == 1e-5 for m in Generator(bn_eps=1e-5).modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_class_head_double_softmax():
    torch.manual_seed(0)
    _, probs, _ = Discriminator().eval()(torch.randn(3, 1, 32, 32))
    np.testing.assert_allclose(probs.sum(1).detach().numpy(), 1.0, rtol=1e-6)  # probabilities, not logits
    _, logits, _ = Discriminator(single_softmax=True).eval()(torch.randn(3, 1, 32, 32))
    assert not np.allclose(logits.sum(1).detach().numpy(), 1.0)


# Hand-worked batch (B = 2): input codes c0 = (1, -1), c1 = (-1, 1), c2 = (0.5, 0.5), c3 = (0, 0);
# predicted codes 0-2 are 0, predicted code 3 is 3.
CODE = torch.tensor([[1.0, -1.0, 0.5, 0.0], [-1.0, 1.0, 0.5, 0.0]])
PRED = torch.tensor([[0.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 3.0]])


def test_structure_loss_hand_worked():
    # MSE(0, c_i): 1, 1, 0.25, 0.  MSE(3, c_i): 10, 10, 6.25, 9.
    # positive: (0,0) 1 + (1,1) 1 + (2,2) .25 + (3,3) 9 + (0,3) 10 + (1,3) 10 + (2,3) 6.25 = 37.5
    # negative: (0,1) 1 + (0,2) 1 + (1,0) 1 + (1,2) 1 + (2,0) .25 + (2,1) .25 + (3,*) 0 = 4.5
    # gains2 = sum_{i<=j} MSE(pred_i, c_j): i=0: 2.25, i=1: 1.25, i=2: .25, i=3: 9 -> 12.75
    pos, neg = losses.edge_lists("code", 4)
    terms = [float(t) for t in losses.structure_terms(CODE, PRED, pos, neg)]
    assert terms == [37.5, 4.5, 12.75]
    loss, opened = losses.structure_loss(CODE, PRED, pos, neg)
    assert opened and float(loss) == 20.25
    loss, opened = losses.structure_loss(CODE, PRED, pos, neg, form="positive")
    assert float(loss) == 37.5


def test_self_edges_cancel():
    # With the hinge open, the loss equals the off-diagonal terms alone: every (i, i) term of the positive
    # sum comes back in gains2 with the same value.
    g = torch.Generator().manual_seed(3)
    code = torch.rand(64, 4, generator=g) * 2 - 1
    pred = torch.randn(64, 4, generator=g) * 0.1
    pred[:, 3] += 6.0  # a large predicted c3 opens the hinge
    pos, neg = losses.edge_lists("code", 4)
    loss, opened = losses.structure_loss(code, pred, pos, neg)
    assert opened
    off_pos = sum(F.mse_loss(pred[:, j], code[:, i]) for i, j in pos if i != j)
    off_g2 = sum(F.mse_loss(pred[:, i], code[:, j]) for i in range(4) for j in range(i + 1, 4))
    expected = off_pos - sum(F.mse_loss(pred[:, j], code[:, i]) for i, j in neg) - off_g2
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # so predicted code 0 enters as -2 MSE(p0, c1) - 2 MSE(p0, c2) - 2 MSE(p0, c3): pushed away from the inputs,
    # with no reconstruction term for c0
    pred.requires_grad_(True)
    loss, _ = losses.structure_loss(code, pred, pos, neg)
    loss.backward()
    g0 = pred.grad[:, 0]
    np.testing.assert_allclose(g0.numpy(), (-4 / 64 * (3 * pred[:, 0] - code[:, 1] - code[:, 2] - code[:, 3])
                                            ).detach().numpy(), rtol=1e-5, atol=1e-7)


def test_hinge_closed_on_typical_batch():
    rs = np.random.RandomState(0)
    code = torch.from_numpy(rs.uniform(-1, 1, (64, 4)).astype(np.float32))
    pos, neg = losses.edge_lists("code", 4)
    pred = torch.zeros(64, 4, requires_grad=True)
    p, n, g2 = (float(t.detach()) for t in losses.structure_terms(code, pred, pos, neg))
    assert p < n + g2  # expected values 7/3 vs 3 + 10/3
    loss, opened = losses.structure_loss(code, pred, pos, neg)
    assert not opened and float(loss) == 0.0 and not loss.requires_grad


def test_edge_lists():
    pos, neg = losses.edge_lists("code", 4)
    assert pos == ((0, 0), (1, 1), (2, 2), (0, 3), (1, 3), (2, 3), (3, 3)) and len(neg) == 9
    with pytest.raises(ValueError, match="edges-clip-to-code-dim"):
        losses.edge_lists("code", 3)
    pos, neg = losses.edge_lists("code", 3, clip=True)
    assert pos == ((0, 0), (1, 1), (2, 2)) and neg == ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))
    pos, neg = losses.edge_lists("figure", 4)
    assert set(pos) == {(0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (1, 3), (2, 3)}
    assert len(neg) == 12 - 3 and not set(pos) & set(neg)
    assert math.isclose(len(neg) + len(pos), 16)
