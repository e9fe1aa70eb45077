"""CaLeG (Class-aware and Adversarial Latent Feature Generation) on ``tf.compat.v1``.

A port of the official TensorFlow 1.15 code (anonymous184/CaLeG, commit 096caad2); no paper could be located.
See ``../README.md`` for the deviations and fix flags and ``/work/shared/specs/caleg.md`` for the facts.
"""
