import numpy as np
import torch
import torch.nn.functional as F

from dfg import channel_eval as ce
from dfg import nets


def test_collect_per_class_takes_the_first_images_met_in_shuffled_order():
    y = np.array([0] * 30 + [1] * 3 + [2] * 20)
    g = torch.Generator().manual_seed(0)
    pos = ce.collect_per_class(y, 3, label_min=5, batch_size=8, generator=g)
    assert np.bincount(y[pos], minlength=3).tolist() == [5, 3, 5]  # class 1 has only 3 images
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).numpy()
    ranks = {int(i): r for r, i in enumerate(order)}
    for c in range(3):  # the kept images of each class are the first of that class in the shuffled order
        mine = sorted(ranks[int(i)] for i in pos[y[pos] == c])
        assert mine == sorted(r for r, i in enumerate(order) if y[i] == c)[: len(mine)]


def test_extractor_importance_zeroes_each_filter_and_keeps_the_bias():
    torch.manual_seed(0)
    e, c = nets.split_source(nets.Lenet5(10), 10)
    x, y = torch.randn(5, 1, 32, 32), torch.arange(5)
    w_before = e.model[0].weight.clone()
    w = ce.extractor_importance(e, c, x, y, "dfg")
    assert torch.equal(e.model[0].weight, w_before)  # restored
    base = F.cross_entropy(c(e(x)), y, reduction="none")
    e2, _ = nets.split_source(nets.Lenet5(10), 10)
    e2.load_state_dict(e.state_dict())
    with torch.no_grad():
        e2.model[0].weight[3] = 0
    without3 = F.cross_entropy(c(e2(x)), y, reduction="none")
    np.testing.assert_allclose(w[:, 3], (base - without3).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ce.extractor_importance(e, c, x, y, "delta"), -w, atol=1e-7)
    assert w.shape == (5, 6)


def test_classifier_importance_is_the_running_mean_of_loss_increases():
    torch.manual_seed(0)
    e, c = nets.split_source(nets.Lenet5(10), 10)
    batches = [(torch.randn(4, 1, 32, 32), torch.arange(4)) for _ in range(2)]
    got = ce.classifier_importance(e, c, batches)
    assert len(got) == 1 and len(got[0]) == 16
    diffs = []
    for x, y in batches:
        base = F.cross_entropy(c(e(x)), y)
        c2 = nets.FeatureClassifier(nets.Lenet5(10))
        c2.load_state_dict(c.state_dict())
        with torch.no_grad():
            c2.feature[0].weight[7] = 0
        diffs.append((F.cross_entropy(c2(e(x)), y) - base).item())
    assert abs(got[0][7] - np.mean(diffs)) < 1e-6
