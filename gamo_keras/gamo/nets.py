"""GAMO's networks as Keras 3 models (``dense_net.py``, ``fashion_mnist_net.py`` of the original).

Names follow the paper's Fig. 3: F (conv feature extractor), M (classifier), D (conditional discriminator),
the cTMU (conditional transient mapping unit, shared by all classes) and one IGU per minority class. The IGU's
only trainable layer is ``Dense(n_i, softmax)``; its convex combination of the class's samples is applied by
:func:`gamo.game.Game` (``alpha @ X_i``), because the sample matrix is either a constant (pixels) or the current
CNN features of the class (Fashion). Initialisation is the Keras default everywhere (Glorot-uniform kernels,
zero biases), as in the original.
"""
from __future__ import annotations

import keras
from keras import layers, ops


class Keras2BatchNorm(layers.Layer):
    """BatchNormalization as standalone Keras 2.2 on TensorFlow 1 computed it (the original's library).

    Training mode normalises with the batch mean and the biased batch variance, and updates the moving
    variance with the *unbiased* estimate ``var * n / (n - (1 + epsilon))``; Keras 3's layer uses the biased
    one. This matters here because the cTMU is trained on 4 samples at a time (factor 4/3) while the fakes
    shown to M and D use the moving statistics (``fake_bn_mode`` in fixes.py).

    The moving statistics are updated as Keras 2.2's TensorFlow backend did (``K.moving_average_update``, which
    calls TF1's ``assign_moving_average`` with ``zero_debias=True``): every time the layer is called on a new
    input, TF1 creates a fresh pair of shadow variables for that call, a ``biased`` average (starting at 0) and a
    ``local_step`` counter, and each training run of that call does

        local_step += 1
        biased     -= (biased - batch_statistic) * (1 - momentum)
        moving      = biased / (1 - momentum ** local_step)

    so ``moving`` is overwritten with the debiased average of *that call's* history only. This layer holds one
    such (biased, local_step) set; :class:`gamo.game.Game` keeps one per compiled composite that calls the cTMU
    (the original's 18 call sites) and swaps it in for each update, so the shared moving statistics end up
    holding the last trained composite's value, as in the original.
    """

    def __init__(self, momentum=0.9, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape):
        dim = input_shape[-1]
        self.gamma = self.add_weight(shape=(dim,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(dim,), initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=(dim,), initializer="ones", trainable=False,
                                               name="moving_variance")
        # the zero-debiasing shadow variables of one call site (see the class docstring)
        self.biased_mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="biased_mean")
        self.biased_variance = self.add_weight(shape=(dim,), initializer="zeros", trainable=False,
                                               name="biased_variance")
        self.local_step = self.add_weight(shape=(), initializer="zeros", trainable=False, name="local_step")

    def call(self, x, training=False):
        if training:
            mean = ops.mean(x, axis=0)
            var = ops.mean(ops.square(x - mean), axis=0)
            n = ops.cast(ops.shape(x)[0], x.dtype)
            unbiased = var * n / (n - (1.0 + self.epsilon))
            decay = 1.0 - self.momentum
            step = self.local_step + 1.0
            biased_mean = self.biased_mean - (self.biased_mean - mean) * decay
            biased_var = self.biased_variance - (self.biased_variance - unbiased) * decay
            debias = 1.0 - ops.power(self.momentum, step)
            self.local_step.assign(step)
            self.biased_mean.assign(biased_mean)
            self.biased_variance.assign(biased_var)
            self.moving_mean.assign(biased_mean / debias)
            self.moving_variance.assign(biased_var / debias)
        else:
            mean, var = self.moving_mean, self.moving_variance
        return (x - mean) * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


# the variables of Keras2BatchNorm that belong to a call site rather than to the layer
BN_SITE_VARIABLES = ("biased_mean", "biased_variance", "local_step")


def leaky(x, slope):
    return layers.LeakyReLU(negative_slope=slope)(x)


def build_ctmu(latent_dim: int, num_classes: int, units=(256, 64), bn_momentum=0.9, bn_epsilon=1e-3,
               name="ctmu") -> keras.Model:
    """concat(z, one-hot) -> Dense 256, ReLU -> BN -> Dense 64, ReLU -> BN (activation before BN)."""
    z = keras.Input((latent_dim,), name="noise")
    c = keras.Input((num_classes,), name="label")
    h = layers.Concatenate()([z, c])
    for k, u in enumerate(units):
        h = layers.Dense(u, activation="relu", name=f"dense{k + 1}")(h)
        h = Keras2BatchNorm(bn_momentum, bn_epsilon, name=f"bn{k + 1}")(h)
    return keras.Model([z, c], h, name=name)


def build_igu(in_dim: int, n_samples: int, name: str) -> keras.Model:
    """The IGU's trainable part: Dense(n_i), softmax -> the n_i convex weights alpha."""
    h = keras.Input((in_dim,))
    return keras.Model(h, layers.Dense(n_samples, activation="softmax", name="alpha")(h), name=name)


def build_classifier(in_dim: int, num_classes: int, units=(256, 128), slope=0.1, name="M") -> keras.Model:
    """M: in -> Dense 256, LeakyReLU(0.1) -> Dense 128, LeakyReLU(0.1) -> Dense C, softmax."""
    x = keras.Input((in_dim,))
    h = x
    for k, u in enumerate(units):
        h = leaky(layers.Dense(u, name=f"dense{k + 1}")(h), slope)
    return keras.Model(x, layers.Dense(num_classes, activation="softmax", name="out")(h), name=name)


def build_discriminator(in_dim: int, num_classes: int, units=(256, 128), slope=0.1, name="D") -> keras.Model:
    """D: concat(x, one-hot) -> Dense 256, LeakyReLU(0.1) -> Dense 128, LeakyReLU(0.1) -> Dense 1, sigmoid."""
    x = keras.Input((in_dim,))
    c = keras.Input((num_classes,))
    h = layers.Concatenate()([x, c])
    for k, u in enumerate(units):
        h = leaky(layers.Dense(u, name=f"dense{k + 1}")(h), slope)
    return keras.Model([x, c], layers.Dense(1, activation="sigmoid", name="out")(h), name=name)


def build_feature_extractor(image_shape, filters=32, kernel=5, feature_dim=512, slope=0.1,
                            name="F") -> keras.Model:
    """F ("gamoConv"): [Conv2D 32 5x5 same, LeakyReLU(0.1), AveragePooling 2x2/2 same] x 2 -> Flatten ->
    Dense 512, tanh. 28x28x1 -> 7x7x32 (1568) for Fashion; 32x32x3 -> 8x8x32 (2048) for the RGB extension."""
    x = keras.Input(tuple(image_shape))
    h = x
    for k in range(2):
        h = leaky(layers.Conv2D(filters, kernel, padding="same", name=f"conv{k + 1}")(h), slope)
        h = layers.AveragePooling2D(2, strides=2, padding="same")(h)
    h = layers.Flatten()(h)
    return keras.Model(x, layers.Dense(feature_dim, activation="tanh", name="features")(h), name=name)


def build_vae(feature_dim: int, image_shape, latent_dim=100, hidden=128, filters=32, slope=0.1, name="gamo2pix"):
    """GAMO2pix's VAE head (features -> Dense 128 tanh -> z_mean, z_sigma) and decoder
    (z -> Dense 7*7*32 -> 2x Conv2DTranspose 32 k4 s2 -> Conv2D C k4 tanh), per minority class.

    The encoder's conv part is the trained, frozen F; its features are the head's input.
    """
    h_in, w_in, c_out = image_shape
    f = keras.Input((feature_dim,))
    h = layers.Dense(hidden, activation="tanh", name="hidden")(f)
    head = keras.Model(f, [layers.Dense(latent_dim, name="z_mean")(h), layers.Dense(latent_dim, name="z_sigma")(h)],
                       name=f"{name}_head")
    z = keras.Input((latent_dim,))
    s = h_in // 4
    d = leaky(layers.Dense(s * s * filters, name="dense")(z), slope)
    d = layers.Reshape((s, s, filters))(d)
    for k in range(2):
        d = leaky(layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=f"deconv{k + 1}")(d), slope)
    d = layers.Conv2D(c_out, 4, padding="same", activation="tanh", name="image")(d)
    return head, keras.Model(z, d, name=f"{name}_decoder")
