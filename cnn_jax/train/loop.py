"""The training loop: resume, train, log, evaluate, checkpoint, stop cleanly.

    result = fit(state, train_step, train_batches, workdir=..., steps=..., ...)

- Resume: restores the newest complete checkpoint in `<workdir>/checkpoints`; if its step
  is already `steps`, returns at once. Batches come from `train_batches(start_step)`, so a
  resumed run sees exactly the batches an uninterrupted one would (bitwise-equal results).
  `train_batches=None`: a run without a dataset (e.g. an image being optimised); the step
  is called as `train_step(state, None)`.
- Metrics of step k are fetched while step k+1 runs (no pipeline stall), checked for
  NaN/Inf — an error naming the step and the metric, before any later checkpoint is
  written, so the last good checkpoint stays intact — averaged over `log_every` steps and
  written with the throughput (`train/<unit>_per_sec`, `items_per_step` items of the task's
  `unit` per step) and the learning rate. The progress bar shows the metrics the task names.
- Evaluation is a callback, `evaluate(state) -> {name: value}` (see `train.evaluate`): run
  every `eval_every` steps and at the end; its scalars are logged as `eval/<name>`, the whole
  dict (arrays too, e.g. a confusion matrix for pictures) is `FitResult.eval`.
- Checkpoints every `checkpoint_every` steps, at the end, and when SIGTERM arrives (then
  the loop stops and `result.interrupted` is True). With several processes a SIGTERM may
  reach only one of them (one preempted host): every `preemption_check_every` steps the
  processes combine their flags with one small all-gather, so they all stop after the same
  step and write the same checkpoint (a save is collective: a lone process would hang).
  Each check costs one blocking all-gather of an int32 across processes (2.1 ms measured
  for 2 CPU processes over gloo on 127.0.0.1, idle devices: a third of a LeNet-5 step) and
  a pipeline stall: the host waits for the step in flight before it may dispatch the next
  one (with asynchronous dispatch it is otherwise a step ahead). Default 10 steps: the
  cost is amortised, and a preempted process still stops within 10 steps (choose N so that
  N x step time stays well inside the grace period of the cluster's SIGTERM, often 30 s).
  One process never all-gathers: it stops after the step during which SIGTERM arrived.
- Before the first step the workdir is checked to be writable (`workdir.check_writable`),
  and the newest *intact* checkpoint is restored (`Checkpointer.restore_latest`: a damaged
  one is reported and moved aside, not deleted).
"""
import dataclasses
import itertools
import signal
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np
from absl import logging

from cnn_jax.train.checkpoint import Checkpointer
from cnn_jax.train.state import TrainState
from cnn_jax.train.workdir import check_writable
from cnn_jax.train.writers import NullWriter, Progress


@dataclasses.dataclass
class FitResult:
  """state: final TrainState; eval: the last `evaluate(state)` dict, or None;
  interrupted: stopped by SIGTERM before `steps`; resumed_from: restored step or None."""
  state: TrainState
  eval: dict | None
  interrupted: bool
  resumed_from: int | None


class _SigtermFlag:
  """Records SIGTERM instead of dying, so the loop can checkpoint and stop between steps."""

  def __enter__(self):
    self.received = False
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: leave signals alone
      self._previous = None
    return self

  def _handle(self, signum, frame):
    self.received = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


class DeviceOutOfMemoryError(MemoryError):
  """The accelerator ran out of memory in a train step (a user error: the config asks too much)."""


def _out_of_memory(step: int, items_per_step: int, unit: str, error: Exception):
  return DeviceOutOfMemoryError(
      f'The device ran out of memory in train step {step + 1} ({items_per_step} {unit} per step). '
      'Lower config.data.batch_size (or config.data.image_size, or pick a smaller '
      f'config.model), then re-run; the checkpoints are intact. XLA said: {str(error)[:400]}')


def _any_process(flag: bool) -> bool:
  """True if `flag` is True on any process: one all-gather of an int over all processes."""
  from jax.experimental import multihost_utils
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def _check_finite(step: int, metrics: dict, checkpointer: Checkpointer) -> None:
  for name, value in metrics.items():
    if not np.all(np.isfinite(value)):
      last = checkpointer.latest_step()
      kept = ('no checkpoint had been written yet' if last is None else
              f'the checkpoint of step {last} in {checkpointer.directory} is intact')
      raise FloatingPointError(
          f'Training diverged: {name} = {value} at step {step}. Nothing from it was saved; '
          f'{kept}. Lower config.optimizer.learning_rate, set config.optimizer.grad_clip_norm, or add '
          'warmup (config.schedule.warmup_steps), then re-run in a new workdir or the same one.')


def fit(state: TrainState, train_step: Callable, train_batches: Callable[[int], Iterator] | None,
        *, workdir: str, steps: int, items_per_step: int = 1, unit: str = 'step',
        progress_metrics: Sequence[str] = ('loss',), log_every: int = 50, eval_every: int = 0,
        checkpoint_every: int = 0, keep_checkpoints: int = 2,
        evaluate: Callable[[TrainState], dict] | None = None, writer: Any = None,
        show_progress: bool = True, preemption_check_every: int = 10) -> FitResult:
  """Trains `state` to `steps` (see the module docstring); `writer` is a MetricWriter on
  process 0 and None elsewhere. `unit`/`items_per_step`: what one step processes (e.g.
  'img' and the global batch size; 'step' and 1 for a run without data).
  `preemption_check_every`: steps between the processes' SIGTERM agreements (several
  processes only; one process reacts at the next step)."""
  if preemption_check_every < 1:
    raise ValueError(f'config.train.preemption_check_every={preemption_check_every} must be '
                     '>= 1 (steps between the processes\' SIGTERM checks; 10 is the default).')
  t_fit = time.perf_counter()
  writer = writer or NullWriter()
  check_writable(workdir)
  checkpointer = Checkpointer(workdir, keep_checkpoints)
  restored, resumed_from = checkpointer.restore_latest(state)
  if restored is not None:
    state = restored
    writer.truncate_after(resumed_from)
  start = int(jax.device_get(state.step))
  if start >= steps:
    checkpointer.close()
    return FitResult(state, None, False, resumed_from)

  progress = Progress(start, steps, enabled=show_progress)
  batches = train_batches(start) if train_batches is not None else itertools.repeat(None)
  rate_key = f'train/{unit}_per_sec'
  sums: dict[str, float] = {}
  count, t_log, last_eval, interrupted = 0, None, None, False
  several = jax.process_count() > 1

  def absorb(step: int, metrics) -> None:
    """Host side of step `step` (1-based count of updates): check, accumulate, log."""
    nonlocal count, t_log, sums
    metrics = jax.device_get(metrics)
    _check_finite(step, metrics, checkpointer)
    for k, v in metrics.items():
      sums[k] = sums.get(k, 0.0) + float(v)
    count += 1
    progress.update(1, {k: float(metrics[k]) for k in progress_metrics if k in metrics})
    if t_log is None:  # the first step includes compilation: time from its end
      t_log, sums, count = time.perf_counter(), {}, 0
      logging.info('First step done %.2f s after fit started (compilation included).',
                   t_log - t_fit)
    elif step % log_every == 0 or step == steps:
      now = time.perf_counter()
      record = {f'train/{k}': v / count for k, v in sums.items()}
      record[rate_key] = count * items_per_step / max(now - t_log, 1e-9)
      writer.write_scalars(step, record)
      progress.update(0, {f'{unit}/s': record[rate_key]})
      t_log, sums, count = now, {}, 0

  step = start
  try:
    with _SigtermFlag() as sigterm:
      pending = None
      for step in range(start, steps):
        state, metrics = train_step(state, next(batches))
        if pending is not None:
          absorb(*pending)
        pending = (step + 1, metrics)
        done = step + 1
        if several:  # all processes stop at the same step, or none does
          stop = (done % preemption_check_every == 0 and done != steps
                  and _any_process(sigterm.received))
        else:
          stop = sigterm.received
        boundary = (done == steps or stop
                    or (eval_every and done % eval_every == 0)
                    or (checkpoint_every and done % checkpoint_every == 0))
        if not boundary:
          continue
        absorb(*pending)
        pending = None
        t_pause = time.perf_counter()
        if evaluate is not None and (done == steps or (eval_every and done % eval_every == 0)):
          last_eval = evaluate(state)
          writer.write_scalars(done, {f'eval/{k}': v for k, v in last_eval.items()
                                      if np.ndim(v) == 0})
        if done == steps or stop or (checkpoint_every and done % checkpoint_every == 0):
          checkpointer.save(state)
        if stop:
          interrupted = True
          break
        if t_log is not None:  # eval and checkpoint time is not training throughput
          t_log += time.perf_counter() - t_pause
  except Exception as e:  # XLA's error type varies by version: judge by its status
    if 'RESOURCE_EXHAUSTED' in str(e):  # (it may surface at the step or when fetched)
      raise _out_of_memory(step, items_per_step, unit, e) from None
    raise
  finally:
    progress.close()
    checkpointer.close()
  return FitResult(state, last_eval, interrupted, resumed_from)
