"""Benchmarks run by ``videoident bench``: one module per area, each with ``run(quick: bool) -> dict``."""
