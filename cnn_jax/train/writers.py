"""Where metrics go: `metrics.jsonl` (the source of truth), TensorBoard events, a progress bar.

TensorBoard event files are written with the `tensorboard` package's own event writer and
protos (no TensorFlow). Only process 0 writes; other processes get a `NullWriter`.
"""
import json
import os
import time

import numpy as np
import tqdm
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def truncate_jsonl(path: str, after_step: int) -> None:
  """Drops records with step > `after_step` (left by a run killed after its last checkpoint),
  so a resumed run appends without duplicates. Atomic: write a temp file, then rename."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    keep = [line for line in f if line.strip() and json.loads(line)['step'] <= after_step]
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.writelines(keep)
  os.replace(tmp, path)


def _scalar(value):
  value = np.asarray(value)
  return value.item() if value.size == 1 else None


class MetricWriter:
  """Writes scalar metrics to `<workdir>/metrics.jsonl` and TensorBoard, images to TensorBoard."""

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    self.jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self._jsonl = open(self.jsonl_path, 'a')
    self._events = EventFileWriter(os.path.join(workdir, 'tensorboard'), flush_secs=10)

  def truncate_after(self, step: int) -> None:
    """Forgets records after `step` (see `truncate_jsonl`), for a run resumed from `step`."""
    self._jsonl.close()
    truncate_jsonl(self.jsonl_path, step)
    self._jsonl = open(self.jsonl_path, 'a')

  def write_scalars(self, step: int, scalars: dict) -> None:
    """One JSON object per call: {"step": step, name: value, ...}; non-scalars are skipped."""
    record = {'step': int(step)}
    for k, v in scalars.items():
      v = _scalar(v)
      if v is not None:
        record[k] = v
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    values = [summary_pb2.Summary.Value(tag=k, simple_value=float(v))
              for k, v in record.items() if k != 'step']
    self._events.add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                           summary=summary_pb2.Summary(value=values)))

  def write_png(self, step: int, tag: str, png: bytes, height: int, width: int) -> None:
    """Adds an encoded PNG to TensorBoard's Images tab."""
    image = summary_pb2.Summary.Image(height=height, width=width, colorspace=4,
                                      encoded_image_string=png)
    self._events.add_event(event_pb2.Event(
        wall_time=time.time(), step=int(step),
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])))

  def close(self) -> None:
    self._jsonl.close()
    self._events.close()


class NullWriter:
  """The writer of processes other than 0: accepts everything, writes nothing."""

  def truncate_after(self, step):
    pass

  def write_scalars(self, step, scalars):
    pass

  def write_png(self, step, tag, png, height, width):
    pass

  def close(self):
    pass


class Progress:
  """A tqdm bar over training steps (ETA from tqdm) with the task's metrics and items/s."""

  def __init__(self, start: int, total: int, enabled: bool):
    self._bar = tqdm.tqdm(total=total, initial=start, disable=not enabled, unit='step',
                          dynamic_ncols=True, mininterval=0.5)

  def update(self, n: int, postfix: dict | None = None) -> None:
    if postfix:
      self._bar.set_postfix({k: f'{v:.4g}' for k, v in postfix.items()}, refresh=False)
    self._bar.update(n)

  def close(self) -> None:
    self._bar.close()
