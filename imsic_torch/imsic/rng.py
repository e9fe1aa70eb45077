"""Draws from PyTorch's global CPU generator that the original makes without meaning to.

The order of these calls decides the CNN's initialisation and dropout masks, so the port makes the same calls
(with the same ops, so the same number of generator outputs are consumed) where the original makes them:

* ``iter(DataLoader(...))`` draws the iterator's base seed (``torch.empty((), dtype=torch.int64).random_()``),
  even with ``shuffle=False`` (``utils.get_specific_label``'s ``next(iter(loader))``);
* a ``shuffle=True`` loader's ``RandomSampler`` then draws the seed of its private permutation generator the
  same way, and permutes with that generator (the GAN's epochs, every evaluation's test loader);
* building G and D with PyTorch's default initialisation (``get_trained_generator_discriminator``, once per
  class, before ``load_state_dict``).
"""
from __future__ import annotations

import torch


def _int64_draw() -> int:
    return int(torch.empty((), dtype=torch.int64).random_().item())


def loader_iter_draw() -> None:
    """What ``iter(DataLoader(..., shuffle=False))`` takes from the global generator: its base seed."""
    _int64_draw()


def shuffled_loader_order(n: int) -> torch.Tensor:
    """The sample order one pass of ``DataLoader(dataset of n, shuffle=True)`` uses, drawn exactly as the
    loader draws it: base seed, then the sampler's seed, then ``randperm`` on a generator seeded with it."""
    _int64_draw()  # _BaseDataLoaderIter._base_seed
    seed = _int64_draw()  # RandomSampler.__iter__
    gen = torch.Generator()
    gen.manual_seed(seed)
    return torch.randperm(n, generator=gen)
