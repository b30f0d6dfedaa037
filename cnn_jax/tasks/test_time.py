r"""Measures test-time multi-crop and ensembles on trained classification runs (course §2.4.4).

Config: a classification config with task='test_time' and eval.ensemble listing N >= 1
trained workdirs (experiments/test_time_mnist.py). For every member it evaluates the plain
model, 'flip' and 'ten_crop' (tasks/_test_time.py), then the ensemble of all N (the first
member as "this run", the others as config.eval.ensemble), and times each evaluation on the
test split (the second call: compiled, pipeline warm). Prints a markdown table: test accuracy
(mean over members for single models), test loss, wall seconds and x the plain model's time.
Needs no workdir; trains nothing.
"""
import time

import jax
import numpy as np
from absl import logging

from cnn_jax.tasks import _supervised, _test_time
from cnn_jax.tasks.classification import Classification
from cnn_jax.train import sharding

NEEDS_WORKDIR = False


def _timed(evaluate, state) -> tuple[dict, float]:
  evaluate(state)  # compile + warm the pipeline
  start = time.perf_counter()
  out = evaluate(state)
  return out, time.perf_counter() - start


def run(config, workdir: str | None = None) -> list[dict]:
  """Rows {'method', 'accuracy', 'loss', 'seconds', 'cost'}; also logged as a table."""
  workdirs = tuple(config.eval.ensemble)
  if not workdirs:
    raise ValueError('config.eval.ensemble must list the trained workdirs to measure.')
  task = Classification(config)
  mesh = sharding.make_mesh(config.devices)
  dataset = task.load_data()
  model = task.build_model(dataset)
  r = _supervised.Run(task, config, workdir, mesh, dataset, model,
                      _supervised.make_normalize(config.data.normalize))
  members = [_test_time.load_member(w, config, dataset.num_classes) for w in workdirs]
  states = [_test_time.member_state(m, mesh) for m in members]
  plain = r.masked_means(lambda logits, b: _test_time._scores(
      jax.nn.softmax(logits), b['label'], 'plain'))
  methods = [('single model', 'plain', plain),
             ('flip (2 views)', 'flip', _test_time.multicrop_evaluator(r, 'flip', 0)),
             *[(f'{mode} ({n} views, border {config.eval.crop_border})', mode,
                _test_time.multicrop_evaluator(r, mode, config.eval.crop_border))
               for mode, n in (('five_crop', 5), ('ten_crop', 10))]]
  rows = []
  for label, key, evaluate in methods:
    results = [_timed(evaluate, s) for s in states]
    acc = np.array([o[f'{key}_accuracy'] for o, _ in results])
    rows.append(dict(method=label, accuracy=acc.mean(), accuracy_std=acc.std(),
                     loss=np.mean([o[f'{key}_loss'] for o, _ in results]),
                     seconds=np.median([t for _, t in results])))
  if len(members) > 1:
    ens = _test_time.ensemble_evaluator(r, workdirs[1:])
    out, seconds = _timed(ens, states[0])
    rows.append(dict(method=f'ensemble of {len(members)}', accuracy=out['ensemble_accuracy'],
                     accuracy_std=0.0, loss=out['ensemble_loss'], seconds=seconds))
  base = rows[0]['seconds']
  lines = ['| method | test accuracy | test loss | eval s | x single |', '|---|---|---|---|---|']
  for row in rows:
    row['cost'] = row['seconds'] / base
    spread = f' ± {100 * row["accuracy_std"]:.2f}' if row['accuracy_std'] else ''
    lines.append(f'| {row["method"]} | {100 * row["accuracy"]:.2f}%{spread} | {row["loss"]:.4f} '
                 f'| {row["seconds"]:.3f} | {row["cost"]:.1f} |')
  table = '\n'.join(lines)
  logging.info('Test-time evaluation of %d run(s) on %d test images:\n%s', len(members),
               len(dataset.test), table)
  print(table)
  return rows
