"""The LeNet-5 training benchmark runs end to end: bare step and full loop side by side."""
import pytest

from conftest import load_config
from cnn_jax import bench
from cnn_jax.tasks import benchmark


@pytest.mark.slow
def test_bench_train_lenet5_smoke(tmp_path):
  report = benchmark.run(load_config('bench_train_lenet5'), str(tmp_path))
  rows = {r.impl: r for r in report.results}
  assert set(rows) == {'bare step', 'full loop'}
  for r in rows.values():
    assert r.median_s > 0 and bench.items_per_s(r) == 16 / r.median_s
  assert rows['full loop'].speedup == rows['bare step'].median_s / rows['full loop'].median_s
  assert (tmp_path / 'benchmark.json').exists()
