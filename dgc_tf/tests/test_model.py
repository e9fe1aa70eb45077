"""Shapes of the networks for every config, and the batched all-classes encoder head against the plain one."""
import importlib

import numpy as np
import pytest

import configs.mnist
from dgc import config, model
from dgc.tfcompat import tf


@pytest.mark.parametrize("dataset,shape,conv_shapes", [
    ("mnist", (28, 28, 1), [(14, 14, 128), (7, 7, 256), (4, 4, 512), (2, 2, 1024)]),
    ("svhn", (32, 32, 3), [(16, 16, 128), (8, 8, 256), (4, 4, 512), (2, 2, 1024)]),
    ("celeba", (64, 64, 3), [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (2, 2, 1024)]),
])
def test_encoder_decoder_classifier_shapes(dataset, shape, conv_shapes):
    tf.reset_default_graph()
    cfg = config.resolve(importlib.import_module(f"configs.{dataset}"), "full")
    nets = model.Networks(cfg)
    x = tf.placeholder(tf.float32, (7,) + shape)
    feats = nets.encoder_features(x, True)
    relus = [op.outputs[0] for op in tf.get_default_graph().get_operations()
             if op.type == "Relu" and op.name.startswith("encoder/")]
    assert [tuple(t.shape.as_list()[1:]) for t in relus] == conv_shapes
    assert feats.shape.as_list() == [7, 4096]  # hdim: 2 x 2 x 1024
    mu, logvar = nets.encoder_head(feats, tf.one_hot(tf.zeros([7], tf.int32), cfg["n_classes"]))
    assert mu.shape.as_list() == [7, 64] and logvar.shape.as_list() == [7, 64]
    w = tf.get_default_graph().get_tensor_by_name("encoder/hid_lin/W:0")
    assert w.shape.as_list() == [4096 + cfg["n_classes"], 4096]  # y joined after the conv stack
    x_hat = nets.decoder(model.sample_z(mu, logvar, tf.constant([0, 1], tf.int64)), True)
    assert x_hat.shape.as_list() == [7, *shape]
    assert nets.classifier(mu).shape.as_list() == [7, cfg["n_classes"]]
    cls_vars = model.scope_vars("classifier")
    assert len(cls_vars) == (6 if cfg["mlp_classifier"] else 2)


def test_all_classes_head_equals_per_class_head():
    tf.reset_default_graph()
    cfg = dict(config.resolve(configs.mnist, "full"), e_num_filters=32, hdim=128, g_num_filters=32, zdim=8,
               init_std=0.1)
    nets = model.Networks(cfg)
    x = tf.constant(np.random.RandomState(0).rand(3, 28, 28, 1).astype(np.float32))
    feats = nets.encoder_features(x, False)
    mu_all, lv_all = nets.encoder_head_all_classes(feats)
    per_class = [nets.encoder_head(feats, tf.one_hot(tf.fill([3], c), 10)) for c in range(10)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got_mu, got_lv, ref = sess.run([mu_all, lv_all, per_class])
    assert got_mu.shape == (10, 3, 8)
    np.testing.assert_allclose(got_mu, np.stack([m for m, _ in ref]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_lv, np.stack([v for _, v in ref]), rtol=1e-5, atol=1e-6)


def test_batch_norm_updates_in_place_on_training_passes():
    tf.reset_default_graph()
    from dgc import ops

    x = tf.constant(np.array([[[[1.0]], [[3.0]]]], np.float32).reshape(2, 1, 1, 1))
    y = ops.batch_norm(x, True, "bn", eps=1e-5, decay=0.9)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(y)
        sess.run(y)
        mean, var = sess.run(["bn/moving_mean:0", "bn/moving_variance:0"])
    # mean 2, biased variance 1: after two passes 2 * (1 - 0.9^2) and 1 (moving_variance starts at 1)
    assert mean[0] == pytest.approx(2 * (1 - 0.81))
    assert var[0] == pytest.approx(1.0)
