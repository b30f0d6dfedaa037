"""The style-transfer benchmark suite (cnn_jax/benchmarks/style.py): the stored PyTorch JSON
joins as 'torch adam' rows with its own medians; the smoke suite (slow: real VGG-19 weights)
times the Adam case and chained L-BFGS steps through the generic train step."""
import json
import pathlib
import runpy
import statistics

import numpy as np
import pytest

from cnn_jax.benchmarks import style as suite

ROOT = pathlib.Path(__file__).parents[1]


def test_torch_rows_join_with_their_own_medians():
  path = ROOT / 'benchmarks' / 'torch_results' / 'style_transfer.json'
  rows = json.loads(path.read_text())['rows']
  results = suite._torch(str(path))
  assert [r.name for r in results] == [f'gatys step {r["px"]}x{r["px"]}' for r in rows]
  for r, row in zip(results, rows):
    assert r.impl == 'torch adam' and r.info['px'] == row['px']
    np.testing.assert_allclose(r.median_s, statistics.median(row['runs']))


@pytest.mark.slow
def test_smoke_suite_times_adam_and_lbfgs():
  from cnn_jax.tasks import benchmark
  config = runpy.run_path(str(ROOT / 'experiments' / 'bench_style.py'))['get_config']('smoke')
  report = benchmark.run(config)
  by_impl = {r.impl: r for r in report.results}
  assert set(by_impl) == {'jax adam', 'jax lbfgs'}
  assert all(r.median_s > 0 and r.compile_s > 0 for r in by_impl.values())
  lbfgs = by_impl['jax lbfgs'].info
  assert lbfgs['linesearch_steps'] >= 1 and lbfgs['loss_first_last'][1] < lbfgs['loss_first_last'][0]
