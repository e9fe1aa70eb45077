"""Per-dataset configurations: ``BASE`` (the architecture and constants) and ``BUDGETS`` (what each budget
changes). ``gamo.config.load(dataset, budget, **overrides)`` resolves them; the result is saved as the run
folder's ``config.json``."""
