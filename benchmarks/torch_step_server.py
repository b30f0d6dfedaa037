r"""PyTorch eager train steps served over stdin/stdout, for side-by-side timing with cnn_jax.

Run by `benchmarks/side_by_side.py` (cnn_jax's venv) as a child process in a throwaway venv
with torch==2.14.1 torchvision==0.29.1, so that PyTorch and cnn_jax steps are timed
interleaved, round by round, under the same background load. Each request is one JSON line
{"workload": name, "steps": k[, "memory_format": "channels_last"]}; the reply is one JSON line with k per-step seconds. The
workloads and steps are those of `torch_zoo_train.py` (SGD momentum, label smoothing 0.1) and
`torch_lenet5_train.py` (LeNet-5, AdamW), with `torch.set_num_threads(2)`.
"""
import json
import os
import runpy
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = runpy.run_path(os.path.join(HERE, 'torch_zoo_train.py'))
LENET = runpy.run_path(os.path.join(HERE, 'torch_lenet5_train.py'))


def build(workload: str, memory_format: str = 'contiguous'):
  """The step function for 'lenet5 32px b256 train' or a torch_zoo_train workload, with the
  model and batch in `memory_format` ('contiguous': NCHW, PyTorch's default; 'channels_last')."""
  torch.manual_seed(0)
  fmt = {'contiguous': torch.contiguous_format, 'channels_last': torch.channels_last}[memory_format]
  if workload.startswith('lenet5'):
    batch, size, classes = int(workload.split(' b')[1].split()[0]), 32, 10
    model = LENET['lenet5']()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.1)
    return ZOO['train_step'](model, size, batch, classes, channels=1, optimizer=opt,
                             memory_format=fmt)
  prefix = 'resnet50 224px' if ' 224px' in workload else workload.split(' ')[0]
  builder, size, batch, classes = ZOO['WORKLOADS'][prefix]
  batch = batch or int(workload.split(' b')[1].split()[0])
  return ZOO['train_step'](builder(), size, batch, classes, memory_format=fmt)


def main():
  torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
  steps = {}
  for line in sys.stdin:
    request = json.loads(line)
    name = (request['workload'], request.get('memory_format', 'contiguous'))
    if name not in steps:
      steps[name] = build(*name)
      steps[name]()  # warm-up
    times = []
    for _ in range(request['steps']):
      t = time.perf_counter()
      steps[name]()
      times.append(time.perf_counter() - t)
    print(json.dumps({'times': times, 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
  main()
