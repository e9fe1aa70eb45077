"""DGC (Wang, Lyu, Jing, CVPR 2020) as TF1 graph code on ``tf.compat.v1``.

Modules: ``ops`` (layers with the original's initialisation and contrib-style batch norm), ``losses``
(IMQ-kernel MMD, reconstruction, cross-entropy, moment-matching pretraining loss), ``model`` (the graph:
encoder, decoder, classifier, training and prediction ops), ``oversample`` (latent oversampling copy counts),
``schedules`` (learning-rate factors and the evaluation schedule), ``config`` (configs, budgets, fix flags),
``train`` (the training loop, checkpoints, evaluation and run records).
"""
