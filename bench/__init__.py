"""Benchmarks. Each ``bench/bench_*.py`` runs alone (``python -m bench.bench_edxml``) and
prints its figures beside a baseline measured in the same run; ``python -m bench``
runs them all."""
