"""Learning test: 250 DFG iterations on a small Fashion-MNIST split reach recorded bands (marked ``learning``).

The port's default config (the original's losses, optimisers and constants) at batch 8, through
``Trainer.train``: a random LeNet-5 as the source (what the original does for ``lenet`` without
``--pretrained_base_model``), the port's channel evaluation, then 250 iterations on 2 x 600 + 8 x 60 training
images; 2,000 test images. Three numbers, one per player (torch 2.13, one thread; recorded values):
- E_t/C_t: test accuracy 0.34 (0.10 at the start);
- G: C_t names the label of G's features for 0.73 of them (0.39 with G frozen);
- D: mean D(real) - mean D(fake) = 20.5 (0.04 with D frozen).
About 45 s of CPU on the loaded 2-core development machine.
"""
import types

import numpy as np
import pytest
import torch
from shared_data import skeleton

import run as dfg_run
from dfg import nets
from dfg import train as T

STEPS, BATCH = 250, 8


@pytest.mark.learning
def test_dfg_learns_on_a_small_split(mirror, tmp_path):
    from shared_data.readers import load_dataset

    torch.set_num_threads(1)
    ds = load_dataset("fashion", tmp_path / "data", [mirror], download=False, quiet=True)
    counts = [600, 600] + [60] * 8  # IR 10, the first images of each class in file order (the dfg protocol's rule)
    tr_idx = np.concatenate([np.flatnonzero(ds.y_train == c)[:n] for c, n in enumerate(counts)])
    te_idx = np.concatenate([np.flatnonzero(ds.y_test == c)[:200] for c in range(10)])
    split = types.SimpleNamespace(x_train=ds.x_train[tr_idx], y_train=ds.y_train[tr_idx], x_test=ds.x_test[te_idx],
                                  y_test=ds.y_test[te_idx], num_classes=10, split_id="learning", split_hash="learning",
                                  manifest={"dfg": {"minority_classes": list(range(2, 10))}})
    record = types.SimpleNamespace(checkpoint_dir=tmp_path, path=tmp_path, log_metrics=lambda *a, **k: None,
                                   log_eval=lambda *a, **k: None, truncate_metrics=lambda *a: None)
    torch.manual_seed(0)
    torch.save(nets.Lenet5(10).state_dict(), tmp_path / "source_in.pt")
    cfg = dfg_run.configure(skeleton.build_parser(dfg_run.METHOD).parse_args(["--dataset", "fashion"]))  # defaults
    cfg.update(batch_size=BATCH, steps=STEPS, eval_every=10 ** 6, checkpoint_every=10 ** 6)
    owner = T.Run(cfg, split, record, seed=0, device=torch.device("cpu"), source_checkpoint=str(tmp_path / "source_in.pt"),
                  log=lambda *a: None)
    owner.stage_source()
    tr = T.Trainer(owner, owner.stage_channel_eval())
    tr.train()
    acc = tr._evaluate(STEPS)
    with torch.no_grad():
        g = torch.Generator().manual_seed(5)
        idx = torch.randperm(len(tr.x), generator=g)[:256]
        real, y = tr.n["e_t"](tr.x[idx]), tr.y[idx]
        z = torch.rand(256, cfg["noise_dim"], generator=g) * 2 - 1
        onehot = torch.nn.functional.one_hot(y, 10).float()
        tr.n["g"].eval()
        fake = tr.n["g"](torch.cat([z, onehot], 1), onehot @ tr.mask)
        fake_acc = float((tr.n["c_t"](fake).argmax(1) == y).float().mean())
        separation = float(tr.n["d"](real).mean() - tr.n["d"](fake).mean())
    assert acc >= 0.25, f"test accuracy {acc:.3f} (recorded 0.34)"
    assert fake_acc >= 0.6, f"C_t names G's label for {fake_acc:.3f} of its features (recorded 0.73)"
    assert separation >= 5.0, f"critic separation {separation:.2f} (recorded 20.5)"
