"""Per-dataset configurations, one module per dataset: ``CONFIG`` (the full budget: every constant the run reads)
and ``BUDGETS`` (the keys the quick and smoke budgets change). ``shared_data.config.resolve`` merges them with the
command line's overrides and refuses an unknown key; the result is saved as the run folder's ``config.json``.
``mnist.py`` spells out every constant of the released code; the other datasets change only their own keys."""
