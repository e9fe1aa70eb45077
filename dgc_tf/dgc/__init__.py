"""DGC (Wang, Lyu, Jing, CVPR 2020) as TF1 graph code on ``tf.compat.v1``.

Modules: ``ops`` (layers with the original's initialisation and contrib-style batch norm), ``losses``
(IMQ-kernel MMD, reconstruction, cross-entropy, moment-matching pretraining loss), ``model`` (the graph:
encoder, decoder, classifier, training and prediction ops), ``oversample`` (latent oversampling copy counts),
``schedules`` (learning-rate factors and the evaluation schedule), ``config`` (a run's config from a dataset's
config module through ``shared_data.config``, its derived values and checks), ``train`` (the training loop,
checkpoints, evaluation and run records), ``entry`` (one run for ``run.py``: run folder, split, training, result).
"""
