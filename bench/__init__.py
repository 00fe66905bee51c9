"""Benchmark suite of the Disco implementation: ``python -m bench [--quick]``.

See docs/benchmarks.md.
"""
