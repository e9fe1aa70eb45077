import torch

from dfg import nets


def test_parameter_counts_match_the_released_architecture():
    src = nets.Lenet5(10)
    e, c = nets.split_source(src, 10)
    assert nets.count_parameters(nets.FeatureGenerator(10)) == 293_188
    assert nets.count_parameters(nets.FeatureDiscriminator(6)) == 261_313
    assert nets.count_parameters(e) == 156
    assert nets.count_parameters(c) == 545_530
    assert nets.count_parameters(src) == 545_686
    # the original's layer names: ablation layer, hooked layer, Omega_fc layer
    assert nets.EXTRACTOR_LAYER + ".weight" in e.state_dict()
    assert nets.CLASSIFIER_LAYERS[0] + ".weight" in c.state_dict()
    assert nets.FC_PREFIX + ".weight" in c.state_dict()
    assert set(c.state_dict()) == {f"feature.0.{p}" for p in ("weight", "bias")} | {
        f"classifier.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}


def test_shapes_and_the_source_weights_are_copied():
    src = nets.Lenet5(10)
    e, c = nets.split_source(src, 10)
    x = torch.randn(3, 1, 32, 32)
    f = e(x)
    assert f.shape == (3, *nets.FEATURE_SHAPE)
    torch.testing.assert_close(c(f), src(x))
    g = nets.FeatureGenerator(10)
    out = g(torch.randn(4, 110), torch.tensor([[1.0, 0, 0, 0, 0, 0]] * 4))
    assert out.shape == (4, 6, 14, 14) and out[:, 1:].abs().sum() == 0  # masked channels are zero
    e2, c2 = nets.split_source(src, 10, fresh_head=True, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(c2.classifier[4].weight, src.dense[4].weight)
    assert torch.equal(c2.classifier[0].weight, src.dense[0].weight)


def test_leaky_relu_true_is_the_identity_so_the_critic_is_affine():
    torch.manual_seed(0)
    assert torch.nn.LeakyReLU(True).negative_slope == 1.0  # the PyTorch pitfall the port reproduces
    d = nets.FeatureDiscriminator(6, leaky_slope=1.0)
    a, b = torch.randn(2, 6, 14, 14), torch.randn(2, 6, 14, 14)
    bias = d.dense.bias
    # affine: D(a + b) - b_D = (D(a) - b_D) + (D(b) - b_D)
    torch.testing.assert_close(d(a + b) - bias, d(a) - bias + d(b) - bias, atol=1e-4, rtol=1e-4)
    d2 = nets.FeatureDiscriminator(6, leaky_slope=0.2)
    d2.load_state_dict(d.state_dict())
    assert not torch.allclose(d2(a + b) - bias, d2(a) - bias + d2(b) - bias, atol=1e-4)
