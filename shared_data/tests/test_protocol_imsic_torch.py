"""The ``imsic`` protocol's randperm emulation against PyTorch itself (runs where torch is installed)."""
import numpy as np
import pytest

from shared_data import protocols

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, 2 ** 32 - 1])
@pytest.mark.parametrize("n", [0, 1, 2, 40, 101, 5421, 6742])
def test_emulation_equals_torch_randperm(n, seed):
    torch.manual_seed(seed)
    expected = torch.randperm(n).numpy()
    np.testing.assert_array_equal(protocols.torch_cpu_randperm(n, seed), expected)


def test_imsic_indices_equal_the_original_loop():
    # train_cnn.py on MNIST: for each class, torch.manual_seed(0), randperm over that class's positions
    y = np.random.RandomState(5).randint(0, 10, 3000)
    counts = [60, 50, 40, 30, 20, 10, 8, 6, 4, 2]
    ref = []
    for c, n in enumerate(counts):
        torch.manual_seed(0)
        pos = np.flatnonzero(y == c)
        ref.append(pos[torch.randperm(len(pos)).numpy()[:n]])
    np.testing.assert_array_equal(protocols.imsic_indices(y, counts, seed=0), np.concatenate(ref))
