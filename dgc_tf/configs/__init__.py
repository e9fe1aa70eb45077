"""Per-dataset configs of DGC. Each module defines ``CONFIG`` (the ``full`` budget: the paper's schedule) and
``BUDGETS`` (overrides for ``quick`` and ``smoke``); its docstring says what it reproduces and how long it runs.
``dgc.config.load_config`` merges them."""
