"""The benchmark harness and the `benchmark` task (conv and pool suites, smoke variants)."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from cnn_jax import bench
from cnn_jax.tasks import benchmark
from conftest import load_config


def _matmul_args(n=64):
  return jnp.ones((n, n)), jnp.ones((n, n))


def test_time_case_statistics_and_flops():
  case = bench.Case('mm 64', 'a', jnp.dot, _matmul_args(), flops=2 * 64 ** 3, info={'n': 64})
  r = bench.time_case(case, runs=5, warmup=1, min_sample_s=0.0)
  assert r.compile_s > 0 and r.runs == 5 and len(r.samples_s) == 5 and r.number >= 1
  assert r.min_s <= r.p10_s <= r.median_s <= r.p90_s <= r.max_s
  assert r.gflops == pytest.approx(2 * 64 ** 3 / r.median_s / 1e9)
  assert r.info == {'n': 64}
  # Without a count, XLA's cost analysis supplies it: 2 m n k for a matmul.
  lazy = bench.Case('mm 64', 'b', lambda a, b: a @ b, lambda: _matmul_args())
  assert bench.time_case(lazy, runs=2, warmup=1).flops == pytest.approx(2 * 64 ** 3)
  # Sub-millisecond calls are repeated so that one sample lasts >= min_sample_s.
  tiny = bench.time_case(bench.Case('add', 'x', lambda a: a + 1, (jnp.ones(4),)), runs=2,
                         min_sample_s=0.01)
  assert tiny.number > 1


def test_report_table_json_and_external(tmp_path):
  fast = bench.Case('mm 128', 'fast', jnp.dot, _matmul_args(128), flops=2 * 128 ** 3)
  slow = bench.Case('mm 128', 'slow', lambda a, b: (a @ b) @ jnp.eye(128) @ jnp.eye(128),
                    _matmul_args(128), flops=2 * 128 ** 3)
  ext = bench.Result(name='mm 128', impl='torch', compile_s=None, median_s=1.0, min_s=1.0,
                     max_s=1.0, p10_s=1.0, p90_s=1.0, runs=1, number=1, flops=None, gflops=None,
                     source='torch 2.x')
  other = dict(vars(ext), name='not in this run')
  report = bench.run([slow, fast], baseline='slow', runs=3, warmup=1, peak_n=128,
                     external=[ext, bench.Result(**other)], log=None)
  by_impl = {r.impl: r for r in report.results}
  assert set(by_impl) == {'slow', 'fast', 'torch', 'peak'}      # unmatched external dropped
  assert by_impl['slow'].speedup == pytest.approx(1.0)
  assert by_impl['fast'].speedup == pytest.approx(by_impl['slow'].median_s / by_impl['fast'].median_s)
  assert report.peak_gflops > 0 and 0 < by_impl['fast'].peak_fraction
  text = bench.table(report, compare='torch')
  assert 'vs slow' in text and 'vs torch' in text and 'matmul peak' in text
  assert text.count('mm 128') == 3
  path = tmp_path / 'b.json'
  bench.write_json(report, str(path))
  again = bench.load_results(str(path))
  assert [r.impl for r in again] == [r.impl for r in report.results]
  assert json.loads(path.read_text())['machine']['backend'] == jax.default_backend()


@pytest.mark.slow
def test_conv_suite_smoke_in_process(tmp_path):
  config = load_config('bench_conv')
  report = benchmark.run(config, str(tmp_path))
  data = json.loads((tmp_path / 'benchmark.json').read_text())
  impls = {r['impl'] for r in data['results']}
  assert impls == {'xla', 'fast', 'peak'}
  # 2 smoke shapes x 2 passes x 2 impls, plus the peak; fwd+bwd counts 3x the forward FLOPs.
  assert len(report.results) == 9
  flops = {(r.name, r.impl): r.flops for r in report.results}
  name = 'smoke 2d 8x8 4->8 3x3'
  assert flops[(f'{name} fwd+bwd', 'xla')] == 3 * flops[(f'{name} fwd', 'xla')] == 3 * 2 * 2 * 64 * 9 * 4 * 8


def test_unknown_suite_lists_choices():
  config = load_config('bench_conv')
  config.suite = 'nope'
  with pytest.raises(ValueError, match=r"choose one of \[.*'conv'.*'pool'"):
    benchmark.run(config, None)


def test_launch_bench_pool_smoke(repo, tmp_path):
  """The documented command, end to end, in a subprocess (no --workdir needed)."""
  env = dict(os.environ, XLA_FLAGS='')
  out = subprocess.run([sys.executable, 'launch.py', '--config', 'experiments/bench_pool.py:smoke',
                        '--workdir', str(tmp_path)], cwd=repo, env=env, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'vs xla' in out.stdout and 'smoke max 8x8x4 2x2/2 fwd+bwd' in out.stdout
  assert (tmp_path / 'benchmark.json').exists()
