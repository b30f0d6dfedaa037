r"""PyTorch eager train steps served over stdin/stdout, for side-by-side timing with cnn_jax.

Run by `benchmarks/side_by_side.py` (cnn_jax's venv) as a child process in a throwaway venv
with torch==2.14.1 torchvision==0.29.1, so that PyTorch and cnn_jax steps are timed
interleaved, round by round, under the same background load. Each request is one JSON line
{"workload": name, "steps": k}; the reply is one JSON line with k per-step seconds. The
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


def build(workload: str):
  """(step function, batch) for 'lenet5 32px b256 train' or a torch_zoo_train workload."""
  torch.manual_seed(0)
  if workload.startswith('lenet5'):
    batch, size, classes = int(workload.split(' b')[1].split()[0]), 32, 10
    model = LENET['lenet5']()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.1)
    x = torch.rand(batch, 1, size, size)
  else:
    prefix = 'resnet50 224px' if ' 224px' in workload else workload.split(' ')[0]
    builder, size, batch, classes = ZOO['WORKLOADS'][prefix]
    batch = batch or int(workload.split(' b')[1].split()[0])
    model = builder()
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': 5e-4},
                           {'params': no_decay, 'weight_decay': 0.0}], lr=0.1, momentum=0.9,
                          nesterov=True)
    x = torch.rand(batch, 3, size, size)
  y = torch.arange(batch) % classes
  model.train()

  def step():
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    loss.backward()
    opt.step()
    return loss.item()  # waits for the step

  return step


def main():
  torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
  steps = {}
  for line in sys.stdin:
    request = json.loads(line)
    name = request['workload']
    if name not in steps:
      steps[name] = build(name)
      steps[name]()  # warm-up
    times = []
    for _ in range(request['steps']):
      t = time.perf_counter()
      steps[name]()
      times.append(time.perf_counter() - t)
    print(json.dumps({'times': times, 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
  main()
