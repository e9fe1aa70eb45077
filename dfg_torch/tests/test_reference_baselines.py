"""The baselines beside DFG in the paper's table (``--model original|fine-tuning|delta``): two consecutive updates
recomputed in plain NumPy and compared with the port's real ``Trainer.baseline_iteration`` (what ``Trainer.train``
calls every step for these models).

The original repository has no code for the baselines. Their definition in this port (README, "Known differences
from the original", the bullet on the baselines) is DFG's extractor/classifier update (opensuh/DFG@fa1218f
``train.py`` L622-671, step 4) with G and D switched off, on the same optimisers:
- ORIGINAL and FINE-TUNING: cross-entropy alone, as step 4 without regularisation (L659-662: ``loss = e_c_loss``);
  FINE-TUNING starts from the source network's weights, ORIGINAL from a random LeNet-5;
- DELTA: CE + alpha_E Omega_E + alpha_C Omega_C + beta Omega_fc with CE counted once (step 4 with the regularisers
  counts it twice, L660), the regularisers of L490-520 with the channel weights of L916-920, L937-941;
- E_t and C_t each with their own Adam, lr 1e-4, betas (0.5, 0.9) (L911-912, L1041-1042).
The networks, regularisers and Adam's update are those of ``test_reference_step`` (written from the original's
``model.py`` and ``train.py``; each constant there carries its file and line). Fixed weights, fixed Adam moments
(7 steps taken, so that each update depends on the gradient's magnitude and not only on its sign), fixed channel
weights; the port runs in float64 (the channel weights stay float32, as in the original).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_data.testing import npgrad as ng
from test_reference_step import (ALPHA_C, ALPHA_E, BETA_C, C_E, K, B, _adam_state, _to_input, adam, channel_weights,
                                 classifier, extractor, fc_decay, fm_distance, tiny_run, vs)

from dfg import train as T
from dfg.train import Run

STEPS = 2  # two consecutive updates: the second starts from the moments the first left


def reference_update(model, W, states, chan, x, y):
    """One baseline update on the real batch (x, y). ``W``: E_t, C_t and (FINE-TUNING, DELTA) the frozen E_s, C_s;
    ``states``: the two optimisers' (m, v, t) per parameter, updated in place. Returns the logged losses and the
    new E_t, C_t."""
    PE, PC = vs(W["e_t"]), vs(W["c_t"])
    f_t = extractor(PE, ng.V(x))
    logits, hooked = classifier(PC, f_t)
    ce = ng.cross_entropy(logits, y)
    loss = ce  # L659-662: CE once, without the regularisers
    out = {"ce": float(ce.v)}
    if model == "delta":
        f_s = extractor(vs(W["e_s"]), ng.V(x)).v
        _, hooked_s = classifier(vs(W["c_s"]), ng.V(f_s))
        om_e = fm_distance(f_t, f_s, channel_weights(chan["extractor_weights"]))  # L490-500, L640
        om_c = fm_distance(hooked, hooked_s.v, channel_weights(chan["classifier_weights"][0]))  # L502-513, L653
        om_fc = fc_decay(PC)  # L515-520, L654
        loss = ce + om_e * ALPHA_E + om_c * ALPHA_C + om_fc * BETA_C
        out.update(omega_e=float(om_e.v), omega_c=float(om_c.v), omega_fc=float(om_fc.v))
    leaves = {**{"e." + k: v for k, v in PE.items()}, **{"c." + k: v for k, v in PC.items()}}
    grads = dict(zip(leaves, ng.grad(loss, list(leaves.values()))))
    e = adam(W["e_t"], {k: grads["e." + k] for k in PE}, states["e_t"])
    c = adam(W["c_t"], {k: grads["c." + k] for k in PC}, states["c_t"])
    return out, e, c


def _trainer(tmp_path, rs, model):
    cfg, split, record, src, x, y = tiny_run(tmp_path, rs, ["--dataset", "mnist", "--model", model], batch_size=B)
    chan = None
    if model == "delta":  # what the channel-eval stage writes; DELTA reads the two weight vectors
        chan = {"extractor_weights": rs.normal(0, 0.3, C_E).tolist(),
                "classifier_weights": [rs.normal(0, 0.3, 16).tolist()]}
    tr = T.Trainer(Run(cfg, split, record, seed=3, device=torch.device("cpu")), chan)
    tr._setup()
    return tr, chan, src, _to_input(x), y


def _check_start(tr, model, src):
    """FINE-TUNING and DELTA start from the source network (E_t = E_s = its conv1; C_t = C_s = the rest; K-way heads
    drawn anew, since the source has 10 outputs); ORIGINAL from a random LeNet-5 and no source copies."""
    sd = src.state_dict()
    e_t, c_t = tr.n["e_t"].state_dict(), tr.n["c_t"].state_dict()
    if model == "original":
        assert tr.e_s is None and tr.c_s is None
        assert not torch.equal(e_t["model.0.weight"], sd["model.0.weight"])
        return
    torch.testing.assert_close(e_t["model.0.weight"], sd["model.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(c_t["feature.0.weight"], sd["model.3.weight"], rtol=0, atol=0)
    torch.testing.assert_close(c_t["classifier.2.weight"], sd["dense.2.weight"], rtol=0, atol=0)
    assert c_t["classifier.4.weight"].shape == (K, 128)
    for a, b in ((tr.e_s, tr.n["e_t"]), (tr.c_s, tr.n["c_t"])):
        for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            if not k.startswith("classifier.4."):
                torch.testing.assert_close(p, q, rtol=0, atol=0, msg=k)


def _run(tmp_path, model):
    rs = np.random.RandomState(5)
    tr, chan, src, X, Y = _trainer(tmp_path, rs, model)
    _check_start(tr, model, src)
    n = tr.n
    assert set(n) == {"e_t", "c_t"} and set(tr.opt) == {"e_t", "c_t"}  # no G, no D
    for m in [*n.values(), *((tr.e_s, tr.c_s) if tr.e_s is not None else ())]:
        m.double()
    tr.x = tr.x.double()
    # fixed weights: E_s, C_s the source with a fixed K-way head; E_t, C_t near them (a few fine-tuning steps on)
    e_src, c_src = T.nets.split_source(src, K)
    W = {"e_s": {k: v.double().numpy().copy() for k, v in e_src.state_dict().items()},
         "c_s": {k: v.double().numpy().copy() for k, v in c_src.state_dict().items()}}
    W["c_s"]["classifier.4.weight"] = rs.normal(0, 0.1, (K, 128))
    W["c_s"]["classifier.4.bias"] = rs.normal(0, 0.1, K)
    W["e_t"] = {k: v + rs.normal(0, 0.05 * v.std(), v.shape) for k, v in W["e_s"].items()}
    W["c_t"] = {k: v + rs.normal(0, 0.05 * v.std(), v.shape) for k, v in W["c_s"].items()}
    mods = (("e_t", n["e_t"]), ("c_t", n["c_t"]))
    if tr.e_s is not None:
        mods += (("e_s", tr.e_s), ("c_s", tr.c_s))
    for key, mod in mods:
        mod.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in W[key].items()})
    states = {}
    for key in ("e_t", "c_t"):
        params = dict(n[key].named_parameters())
        states[key] = _adam_state({k: tuple(p.shape) for k, p in params.items()}, rs)
        by_obj = {id(p): k for k, p in params.items()}
        group = [p for g in tr.opt[key].param_groups for p in g["params"]]
        assert sorted(by_obj[id(p)] for p in group) == sorted(params)  # each optimiser holds its whole network
        for p in group:
            m, v, t = states[key][by_obj[id(p)]]
            tr.opt[key].state[p] = {"step": torch.tensor(float(t)), "exp_avg": torch.from_numpy(m.copy()),
                                    "exp_avg_sq": torch.from_numpy(v.copy())}
    W0 = {k: {n_: v.copy() for n_, v in W[k].items()} for k in W}
    ref = {k: W0[k] for k in W0}
    results = []
    for step in range(STEPS):
        idx = tr.queue[0].numpy().copy()
        assert len(idx) == B and len(tr.queue) == 1
        out = tr.baseline_iteration(step)
        exp, ref["e_t"], ref["c_t"] = reference_update(model, ref, states, chan, X[idx], Y[idx])
        port = {k: {n_: p.detach().numpy().copy() for n_, p in n[k].named_parameters()} for k in ("e_t", "c_t")}
        results.append((out, exp, port, {"e_t": ref["e_t"], "c_t": ref["c_t"]}))
        tr.queue.pop(0)  # as Trainer.train advances it after every step
        tr.queue.append(tr.sample())
    return tr, W0, results


def _compare(tr, W0, results):
    for step, (out, exp, port, new) in enumerate(results):
        assert set(out) == set(exp), step
        for k, v in exp.items():
            # rel 1e-7: the channel weights softmax(zscore / 5) are float32 (train.py L919-920)
            assert out[k] == pytest.approx(v, rel=1e-7, abs=1e-12), (step, k)
        for key in ("e_t", "c_t"):
            for k, p in port[key].items():
                # the change from the fixed weights, not the weight: an error of the size of lr would hide in a
                # weight of size 1; atol 1e-11 = 1e-7 lr (the float32 channel weights)
                np.testing.assert_allclose(p - W0[key][k], new[key][k] - W0[key][k], rtol=1e-6, atol=1e-11,
                                           err_msg=f"step {step}: {key}.{k}")
    for key, mod in (("e_s", tr.e_s), ("c_s", tr.c_s)):
        if mod is not None:
            for k, p in mod.state_dict().items():  # the source copies stay frozen
                np.testing.assert_array_equal(p.numpy(), W0[key][k], err_msg=k)


@pytest.mark.parametrize("model", ["fine-tuning", "delta", "original"])
def test_reference_baseline_updates(tmp_path, model):
    tr, W0, results = _run(tmp_path, model)
    _compare(tr, W0, results)
    if model == "delta":  # every regulariser is of a size whose omission the comparison above would see
        out = results[0][0]
        assert min(out["omega_e"] * ALPHA_E, out["omega_c"] * ALPHA_C, out["omega_fc"] * BETA_C) > 1e-4 * out["ce"]
