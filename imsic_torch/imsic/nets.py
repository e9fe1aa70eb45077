"""The networks of the released code, layer for layer (fudonglin/IMSIC@649abbd, ``source/``).

G and D are PyTorch-GAN's InfoGAN (``generator.py``, ``discriminator.py``) with a ``code_dim``-wide latent
head; the CNN is ``net.py``'s ``ConvNet``. ``bn_eps`` is the second positional argument the original passes
to ``BatchNorm2d`` (0.8, meant as a momentum: it sets eps); the first BatchNorm of G keeps PyTorch's default.
"""
from __future__ import annotations

import torch
from torch import nn

LATENT_DIM = 62
N_CLASSES = 10
IMG_SIZE = 32
CHANNELS = 1
# Layer widths of the released nets (generator.py L14-26: 128 x init_size^2, 128, 64; discriminator.py L17-21:
# 16, 32, 64, 128). Only the reference-step test builds narrower nets.
G_WIDTHS = (128, 128, 64)
D_WIDTHS = (16, 32, 64, 128)


class Generator(nn.Module):
    def __init__(self, code_dim: int = 4, bn_eps: float = 0.8, latent_dim: int = LATENT_DIM,
                 n_classes: int = N_CLASSES, img_size: int = IMG_SIZE, channels: int = CHANNELS,
                 widths=G_WIDTHS):
        super().__init__()
        w0, w1, w2 = widths
        self.init_size, self.w0 = img_size // 4, w0
        self.l1 = nn.Sequential(nn.Linear(latent_dim + n_classes + code_dim, w0 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(w0),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w0, w1, 3, stride=1, padding=1),
            nn.BatchNorm2d(w1, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w1, w2, 3, stride=1, padding=1),
            nn.BatchNorm2d(w2, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w2, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise, labels, code):
        out = self.l1(torch.cat((noise, labels, code), -1))
        out = out.view(out.shape[0], self.w0, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    """Shared trunk, then three heads: real/fake score (LSGAN), class probabilities, continuous codes.

    ``single_softmax`` (fix) returns the class head's logits instead of its softmax probabilities, so that
    ``CrossEntropyLoss`` applies the only softmax.
    """

    def __init__(self, code_dim: int = 4, bn_eps: float = 0.8, single_softmax: bool = False,
                 n_classes: int = N_CLASSES, img_size: int = IMG_SIZE, channels: int = CHANNELS,
                 widths=D_WIDTHS):
        super().__init__()
        w0, w1, w2, w3 = widths

        def block(cin, cout, bn=True):
            layers = [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                layers.append(nn.BatchNorm2d(cout, bn_eps))
            return layers

        self.conv_blocks = nn.Sequential(*block(channels, w0, bn=False), *block(w0, w1), *block(w1, w2),
                                         *block(w2, w3))
        feat = w3 * (img_size // 2 ** 4) ** 2
        self.adv_layer = nn.Sequential(nn.Linear(feat, 1))
        # nn.Softmax() without dim: PyTorch picks dim=1 for 2-D input (with a warning); explicit here
        self.aux_layer = nn.Sequential(nn.Linear(feat, n_classes)) if single_softmax else \
            nn.Sequential(nn.Linear(feat, n_classes), nn.Softmax(dim=1))
        self.latent_layer = nn.Sequential(nn.Linear(feat, code_dim))

    def forward(self, img):
        out = self.conv_blocks(img).view(img.shape[0], -1)
        return self.adv_layer(out), self.aux_layer(out), self.latent_layer(out)


def weights_init_normal(m: nn.Module) -> None:
    """``utils.weights_init_normal``: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


class ConvNet(nn.Module):
    """``net.py``: two 5x5 conv + max-pool blocks, dropout 0.5, Linear 4096->1000 (no activation), ->10."""

    def __init__(self, n_classes: int = N_CLASSES):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 32, kernel_size=5, stride=1, padding=2), nn.ReLU(),
                                    nn.MaxPool2d(kernel_size=2, stride=2))
        self.layer2 = nn.Sequential(nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2), nn.ReLU(),
                                    nn.MaxPool2d(kernel_size=2, stride=2))
        self.drop_out = nn.Dropout()
        self.fc1 = nn.Linear(8 * 8 * 64, 1000)
        self.fc2 = nn.Linear(1000, n_classes)

    def forward(self, x):
        out = self.layer2(self.layer1(x))
        out = self.drop_out(out.reshape(out.size(0), -1))
        return self.fc2(self.fc1(out))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
