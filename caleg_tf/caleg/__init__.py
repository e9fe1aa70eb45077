"""CaLeG (Class-aware and Adversarial Latent Feature Generation) on ``tf.compat.v1``.

A port of the official TensorFlow 1.15 code (anonymous184/CaLeG, commit 096caad2); no paper could be located.
``../README.md`` lists the deviations and ``../fixes.py`` the opt-in corrections, each with the original's file
and line.
"""
