"""Benchmarks and load tests: ``make bench`` (bench.run), ``python -m bench.seed``, ``bench.load``.

Nothing here runs in ``make test``; see bench/README.md.
"""
