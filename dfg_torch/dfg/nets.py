"""The networks of ``model.py`` (opensuh/DFG@fa1218f) for the LeNet-5 backbone.

Module indices follow the original so that layer names ("model.0", "feature.0", "classifier.4") and state dicts
match: E = ``Lenet5.model[:3]``, C = ``Lenet5.model[3:]`` + ``Lenet5.dense``.
"""
from __future__ import annotations

import torch
from torch import nn

NOISE_DIM = 100  # d_z for LeNet and VGG (train.py)
FEATURE_SHAPE = (6, 14, 14)  # E(x) for a 1x32x32 input
EXTRACTOR_LAYER = "model.0"  # conv1: the filters ablated by the channel evaluation (train.py L414, L860)
CLASSIFIER_LAYERS = ("feature.0",)  # conv2: hooked for the classifier regulariser (train.py L873-875)
FC_PREFIX = "classifier.4"  # the last Linear: Omega_fc (train.py L883)


class Lenet5(nn.Module):
    """The source architecture (model.py L250-276): conv 6, conv 16, then 400-1024-128-K."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.ReLU(True), nn.MaxPool2d(2, 2),
        )
        self.dense = nn.Sequential(
            nn.Linear(16 * 5 * 5, 1024), nn.ReLU(True), nn.Linear(1024, 128), nn.ReLU(True),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.dense(torch.flatten(self.model(x), 1))


class FeatureExtractor(nn.Module):
    """E: conv1, ReLU, max-pool -> 6x14x14 (model.py L112-172)."""

    def __init__(self, source: Lenet5):
        super().__init__()
        self.model = nn.Sequential(*list(source.model)[:3])

    def forward(self, x):
        return self.model(x)


class FeatureClassifier(nn.Module):
    """C: conv2, ReLU, max-pool, flatten, the three dense layers (model.py L175-247)."""

    def __init__(self, source: Lenet5):
        super().__init__()
        self.feature = nn.Sequential(*list(source.model)[3:])
        self.classifier = nn.Sequential(*list(source.dense))

    def forward(self, x):
        return self.classifier(torch.flatten(self.feature(x), 1))


def split_source(source: Lenet5, num_classes: int, fresh_head: bool = False,
                 generator: torch.Generator | None = None):
    """(E, C) built from copies of ``source``'s weights; ``fresh_head`` replaces C's last Linear by a new one."""
    src = Lenet5(source.dense[-1].out_features)
    src.load_state_dict(source.state_dict())
    e, c = FeatureExtractor(src), FeatureClassifier(src)
    if fresh_head or num_classes != src.dense[-1].out_features:
        head = nn.Linear(128, num_classes)
        if generator is not None:
            reset_linear(head, generator)
        c.classifier[4] = head
    return e, c


def reset_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from an explicit generator."""
    bound = 1.0 / layer.in_features ** 0.5
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def _act(slope: float) -> nn.Module:
    # nn.LeakyReLU(True) in model.py passes True as negative_slope: slope 1.0, the identity.
    return nn.Identity() if slope == 1.0 else nn.LeakyReLU(slope)


class FeatureGenerator(nn.Module):
    """G (model.py L6-81, LeNet branch): Linear+BN1d -> 128x4x4 -> 3 ConvT -> Tanh -> BN2d, times the mask row.

    ``leaky_slope`` 1.0 reproduces ``nn.LeakyReLU(True)`` (identity); 0.2 is the usual leaky ReLU.
    """

    def __init__(self, num_classes: int = 10, noise_dim: int = NOISE_DIM, leaky_slope: float = 1.0):
        super().__init__()
        self.dense = nn.Sequential(nn.Linear(noise_dim + num_classes, 128 * 4 * 4), nn.BatchNorm1d(128 * 4 * 4))
        self.model = nn.Sequential(
            nn.ConvTranspose2d(128, 48, 3, stride=2, padding=0, bias=False), nn.BatchNorm2d(48), _act(leaky_slope),
            nn.ConvTranspose2d(48, 12, 3, stride=1, padding=0, bias=False), nn.BatchNorm2d(12), _act(leaky_slope),
            nn.ConvTranspose2d(12, 6, 4, stride=1, padding=0, bias=False), nn.Tanh(), nn.BatchNorm2d(6),
        )

    def forward(self, z_onehot, attention):
        x = self.dense(z_onehot).view(-1, 128, 4, 4)
        return self.model(x) * attention[:, :, None, None]  # einsum('aijk,ai->aijk')


class FeatureDiscriminator(nn.Module):
    """D (model.py L84-109): three stride-2 5x5 convs without bias, Linear(512 -> 1); unconditional, no sigmoid."""

    def __init__(self, in_channels: int = 6, leaky_slope: float = 1.0):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, stride=2, padding=2, bias=False), _act(leaky_slope),
            nn.Conv2d(32, 64, 5, stride=2, padding=2, bias=False), _act(leaky_slope),
            nn.Conv2d(64, 128, 5, stride=2, padding=2, bias=False), _act(leaky_slope),
        )
        self.dense = nn.Linear(128 * 2 * 2, 1)

    def forward(self, x):
        return self.dense(torch.flatten(self.conv(x), 1))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
