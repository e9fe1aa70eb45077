"""Learning test: a narrow CaLeG (warm-up, a refit of the class Gaussians, phase-2 iterations with the critic)
trained for a few hundred steps on a small imbalanced MNIST subset must reach the recorded accuracy band, its
critic's class head must learn the real classes, and phase 2 must not wreck the classifier. A broken loss or a
frozen player leaves it below the band. Runs in CI (marker ``learning``, not ``slow``)."""
import os

import numpy as np
import pytest
from shared_data.testing import references

from caleg import gaussians
from caleg.graph import CaLeGGraph
from caleg.tfcompat import tf
from configs import get_config

CLASSES = (0, 1, 2)
COUNTS = (300, 100, 30)
WARMUP, PHASE2, BATCH = 150, 40, 50
# The initial weights' seed. With seed 0 digit 2 (30 images) is still unrecognised after the warm-up, and whether
# phase 2 picks it up by iteration 40 turns on float rounding (one thread: yes, two: no); seed 2 starts phase 2
# from a classifier that knows all three classes, so the bands below test the losses, not a coin toss.
SEED = 2
# One thread in each pool: the same sums in the same order on any machine with the same instruction set.
SESSION_CONFIG = dict(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)


def subset(tmp_path_factory):
    if not os.environ.get("SHARED_DATA_MIRROR"):
        pytest.skip("needs the MNIST files (SHARED_DATA_MIRROR)")
    x, y, xt, yt = references.class_subset("mnist", tmp_path_factory.mktemp("data"), CLASSES, COUNTS, 100)
    return x, y.astype(np.int32), xt, yt


def acsa(pred, y):
    return float(np.mean([np.mean(pred[y == c] == c) for c in range(len(CLASSES))]))


@pytest.mark.learning
def test_caleg_learns_a_small_imbalanced_split(tmp_path_factory):
    x, y, xt, yt = subset(tmp_path_factory)
    cfg = get_config("mnist", "full", aug_rate=1.0, num_classes=3, e_num_filters=16, g_num_filters=16,
                     batch_size=BATCH)
    g = CaLeGGraph(cfg, x, y, seed=SEED)
    n_batches = len(y) // BATCH
    y_gen = gaussians.generation_labels(gaussians.generation_counts(BATCH, 1.0, gaussians.class_weights(COUNTS)))
    with tf.Session(graph=g.graph, config=tf.ConfigProto(**SESSION_CONFIG)) as sess:
        sess.run(g.init)
        sess.run(g.local_init, {g.x_train_ph: x, g.y_train_ph: y})
        codes, labels = [], []
        for step in range(WARMUP):
            idx = np.arange((step % n_batches) * BATCH, (step % n_batches + 1) * BATCH, dtype=np.int32)
            _, z = sess.run([g.train_ae, g.z], {g.batch_idx: idx, g.step_seed: [0, step]})
            if step >= WARMUP - n_batches:
                codes.append(z)
                labels.append(y[idx])
        acsa_warm = acsa(sess.run(g.eval_logits, {g.x_eval: xt}).argmax(1), yt)
        means, covs, _ = gaussians.fit(np.concatenate(codes), np.concatenate(labels), 3)
        sess.run(g.set_gauss, {g.g_mean_ph: means.astype(np.float32),
                               g.g_factor_ph: gaussians.sampling_factor(covs).astype(np.float32)})
        accepted = []
        for step in range(PHASE2):
            idx = np.arange((step % n_batches) * BATCH, (step % n_batches + 1) * BATCH, dtype=np.int32)
            out = g.phase2_step(sess, idx, y_gen, {part: np.array([1, 3 * step + i], np.int64)
                                                   for i, part in enumerate(("enc", "dec", "disc"))})
            accepted.append(out["accepted"].mean())
        acsa_end = acsa(sess.run(g.eval_logits, {g.x_eval: xt}).argmax(1), yt)
        from caleg import nets

        with g.graph.as_default():
            x_ph = tf.placeholder(tf.uint8, [None, 28, 28, 1])
            d_logits = nets.discriminator(tf.cast(x_ph, tf.float32) / 255.0, cfg, training=False)[0]
        acsa_critic = acsa(sess.run(d_logits, {x_ph: xt}).argmax(1), yt)
    print(f"ACSA after the warm-up {acsa_warm:.3f}, after phase 2 {acsa_end:.3f}; the critic's class head "
          f"{acsa_critic:.3f}; generated codes accepted in the last 10 iterations {np.mean(accepted[-10:]):.2f}")
    assert WARMUP_BAND[0] <= acsa_warm <= WARMUP_BAND[1]
    assert ACSA_BAND[0] <= acsa_end <= ACSA_BAND[1]
    assert acsa_critic >= CRITIC_MIN


# Recorded on the 2-core AMD EPYC CPU (initial-weight seed 2, one thread per pool): ACSA 0.893 after the warm-up,
# 0.907 after phase 2, the critic's class head 0.677, all generated codes accepted at the end (37 s with the
# imports), with this file run alone; 0.913, 0.950 and 0.660 when the whole suite runs first in the same process
# (same initial weights and draws; presumably the kernels' float arithmetic differs). Chance is 0.33.
WARMUP_BAND = (0.75, 1.0)
ACSA_BAND = (0.80, 1.0)
CRITIC_MIN = 0.5
