"""Per-dataset configs of DGC. Each module defines ``CONFIG`` (the ``full`` budget: the paper's schedule, every
constant the method reads, the fixes at the released code's behaviour) and ``BUDGETS`` (the keys ``quick`` and
``smoke`` change); its docstring says what it reproduces and how long it runs. ``dgc.config.resolve`` merges them
with the command line's values through ``shared_data.config.resolve``, which refuses a key CONFIG does not have."""
