import math

import numpy as np
import pytest
import torch
from torch import autograd

from dfg import losses, nets


class LinearCritic(torch.nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.lin = torch.nn.Linear(len(w), 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([w]))
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_critic_loss_and_gradient_penalty_on_fixed_tensors():
    # D(x) = 2 x_0 + 0 x_1 + 0.5: grad = (2, 0), ||grad|| = 2, GP = (2 - 1)^2 = 1 for every alpha
    d = LinearCritic([2.0, 0.0], 0.5)
    real = torch.tensor([[1.0, 0.0], [3.0, 1.0]])
    fake = torch.tensor([[0.0, 0.0], [-1.0, 2.0]])
    alpha = torch.tensor([[0.25], [0.75]])
    gp = losses.gradient_penalty(d, real, fake, alpha)
    assert gp.item() == pytest.approx(1.0, abs=1e-7)
    loss, gp2 = losses.critic_loss(d, real, fake, alpha, 10.0)
    # mean D(fake) = (0.5 + -1.5) / 2 = -0.5; mean D(real) = (2.5 + 6.5) / 2 = 4.5
    assert loss.item() == pytest.approx(-0.5 - 4.5 + 10.0 * 1.0, abs=1e-6)
    loss.backward()
    # dL/dw = mean fake - mean real + 10 * 2 (||w|| - 1) w / ||w|| = (-0.5 - 2, 1 - 0.5) + 10 * (2, 0)
    torch.testing.assert_close(d.lin.weight.grad, torch.tensor([[-2.5 + 20.0, 0.5]]))
    assert d.lin.bias.grad.item() == pytest.approx(0.0, abs=1e-7)  # +1 - 1


def test_gradient_penalty_of_a_nonlinear_critic_uses_each_interpolate():
    # D(x) = x_0^2: grad at x_hat is (2 x_hat_0, 0); x_hat_0 = 0.5 * 1 + 0.5 * 3 = 2 -> |grad| = 4 -> GP = 9
    class Sq(torch.nn.Module):
        def forward(self, x):
            return x[:, :1] ** 2

    gp = losses.gradient_penalty(Sq(), torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 7.0]]),
                                 torch.tensor([[0.5]]))
    assert gp.item() == pytest.approx(9.0)


def _original_critic_loss(d, real, fake, alpha, lam):
    """The released code's sequence: three critic calls, grad_outputs of ones (train.py L523-571)."""
    logits_fake, logits_real = d(fake), d(real)
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = d(interp)
    grad = autograd.grad(out, interp, grad_outputs=torch.ones(real.shape[0], 1), create_graph=True,
                         retain_graph=True)[0]
    gp = ((grad.view(grad.size(0), -1) + 1e-16).norm(2, dim=1) - 1).pow(2).mean()
    return -torch.mean(logits_real) + torch.mean(logits_fake) + lam * gp


@pytest.mark.parametrize("slope", [1.0, 0.2])
def test_one_call_critic_loss_equals_the_original_three_calls(slope):
    torch.manual_seed(1)
    d = nets.FeatureDiscriminator(6, slope)
    real, fake = torch.randn(8, 6, 14, 14).relu(), torch.randn(8, 6, 14, 14)
    alpha = torch.rand(8, 1, 1, 1)
    ref = _original_critic_loss(d, real, fake, alpha, 10.0)
    ref_grads = autograd.grad(ref, list(d.parameters()))
    got, _ = losses.critic_loss(d, real, fake, alpha, 10.0)
    grads = autograd.grad(got, list(d.parameters()))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    if slope == 1.0:  # the affine shortcut gives the same loss and parameter gradients
        aff, _ = losses.critic_loss_affine(d, real, fake, 10.0)
        torch.testing.assert_close(aff, ref, rtol=1e-4, atol=1e-4)
        for a, b in zip(autograd.grad(aff, list(d.parameters())), ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_channel_weights_softmax_of_zscore_over_5():
    w = losses.channel_weights([1.0, 3.0])  # zscore (-1, 1) with the population std
    e = math.exp(0.4)
    torch.testing.assert_close(w, torch.tensor([1 / (1 + e), e / (1 + e)]))
    w3 = losses.channel_weights([0.0, 0.0, 3.0])  # mean 1, std sqrt(2): z = (-1, -1, 2) / sqrt(2)
    z = np.array([-1, -1, 2]) / math.sqrt(2) / 5
    torch.testing.assert_close(w3, torch.tensor(np.exp(z) / np.exp(z).sum(), dtype=torch.float32))


def test_feature_map_regulariser_on_a_hand_worked_case():
    # B=1, C=2, H=W=1; distances^2 = 1 and 4; weights 0.25, 0.75:
    # 0.5 * (2 * 0.25 * 1 + 2 * 0.75 * 4) / 1 = 3.25
    t = torch.tensor([[[[1.0]], [[2.0]]]])
    s = torch.zeros_like(t)
    assert losses.feature_map_distance(t, s, torch.tensor([0.25, 0.75])).item() == pytest.approx(3.25)
    # a sum over the batch (not a mean) and a division by H*W: two identical 2x2 samples
    t2 = torch.ones(2, 1, 2, 2) * 2
    # per sample: 0.5 * 1 * 1.0 * (4 * 4) / 4 = 2; two samples -> 4
    assert losses.feature_map_distance(t2, torch.zeros_like(t2), torch.tensor([1.0])).item() == pytest.approx(4.0)
    # the source side is detached
    t3 = torch.ones(1, 1, 1, 1, requires_grad=True)
    s3 = torch.zeros(1, 1, 1, 1, requires_grad=True)
    losses.feature_map_distance(t3, s3, torch.tensor([1.0])).backward()
    assert t3.grad.item() == pytest.approx(1.0) and s3.grad is None


def test_fc_decay_is_half_the_squared_norm():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0]]))
        lin.bias.fill_(2.0)
    assert losses.fc_decay(lin).item() == pytest.approx(0.5 * 25 + 0.5 * 4)


def test_attention_mask_thresholds_c_times_a():
    row = [0.2, 0.151, 0.14, 0.16, 0.174, 0.175]  # C * A = 1.2, 0.906, 0.84, 0.96, 1.044, 1.05
    np.testing.assert_allclose(losses.attention_mask([row], 0.9), [[0.2, 0.151, 0.0, 0.16, 0.174, 0.175]])
    np.testing.assert_allclose(losses.attention_mask([row], 0.95), [[0.2, 0.0, 0.0, 0.16, 0.174, 0.175]])
    uniform = np.full((2, 4), 0.25)  # exactly uniform attention is kept (>=)
    np.testing.assert_array_equal(losses.attention_mask(uniform, 1.0), uniform)


def test_class_attention_averages_per_sample_softmaxes():
    w = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [0.0, np.log(4.0)]])
    a = losses.class_attention(w, np.array([0, 0, 1]), 3)
    np.testing.assert_allclose(a, [[(0.5 + 0.75) / 2, (0.5 + 0.25) / 2], [0.2, 0.8], [0.0, 0.0]])


def test_generated_label_distributions():
    g = torch.Generator().manual_seed(0)
    u = losses.generated_labels(4000, "uniform", 10, [1] * 10, [], g)
    assert set(u.tolist()) == set(range(10))
    m = losses.generated_labels(500, "minority", 10, [1] * 10, [2, 7], g)
    assert set(m.tolist()) == {2, 7}
    d = losses.generated_labels(500, "deficit", 3, [10, 0, 10], [], g)
    assert set(d.tolist()) == {1}
