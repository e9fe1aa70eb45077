"""IMSIC's configs: one module per dataset (``mnist``, ``fashion``), each with ``CONFIG`` (the full budget: every
constant of the released code that the port reads) and ``BUDGETS`` (the keys ``quick`` and ``smoke`` change).
``shared_data.config.load("configs", dataset, budget, overrides)`` resolves one; run.py completes it with the
flags' values and saves it as the run's config.json.
"""
