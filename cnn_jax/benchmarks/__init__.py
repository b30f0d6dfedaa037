"""Benchmark suites for the `benchmark` task: one module per suite, each with
`cases(config) -> list[cnn_jax.bench.Case]`. The interface is documented in
`cnn_jax/tasks/benchmark.py`; `config.suite` names the module.
"""
