"""The benchmark runner: every method of a plan on the same splits, locally or on a Slurm cluster.

``python -m benchmark run|status|plan|report`` (benchmark/README.md). It never imports a method: each job is
``<folder's environment>/bin/python run.py ...`` in the method's folder, started through submitit, and what a job
produced is read back from the ``result.json`` it published.
"""
