r"""PyTorch eager reference for cnn_jax.benchmarks.models: the same zoo train steps in torch.

Run in a throwaway venv (PyTorch is never a cnn_jax dependency; torch 2.14.1 + torchvision
0.29.1 here):
  torchref/bin/python benchmarks/torch_zoo_train.py [--models resnet18 mobilenet_v2]
  (torchref: a throwaway venv with torch==2.14.1 torchvision==0.29.1, see docs/design.md)
  python launch.py --config experiments/bench_models.py   # picks the JSON up as impl 'torch'

Each workload is torchvision's model changed exactly as cnn_jax's `small_input=True` variant
(ResNet: conv1 3x3/1, no max pool; MobileNetV2: features.0 and features.2's depthwise conv at
stride 1; AlexNet: first conv 3x3/1, 1x1 adaptive pool, 256-wide fc input; VGG-16-BN: 1x1
adaptive pool, 512-wide classifier; GoogLeNet: conv1 stride 1, no maxpool1), so parameter
counts equal cnn_jax's (printed; docs/zoo.md lists both). One step:
train-mode forward, cross-entropy with label smoothing 0.1, backward, SGD momentum 0.9
(Nesterov) with weight decay 5e-4 on kernels only - the cnn_jax suite's step. Eager, float32,
NCHW, `torch.set_num_threads(--threads)`; median of --steps timed steps after warm-up.
Writes benchmarks/torch_results/models.json in cnn_jax.bench's JSON format.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision import models as tvm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cnn_jax._cpu import cpu_model  # noqa: E402  (standard library only)


def _resnet(depth):
  def build():
    m = getattr(tvm, f'resnet{depth}')(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m
  return build


def _mobilenet_v2():
  m = tvm.mobilenet_v2(num_classes=10)
  m.features[0][0] = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
  m.features[2].conv[1][0].stride = (1, 1)
  return m


def _alexnet():
  m = tvm.alexnet(num_classes=10)
  m.features[0] = nn.Conv2d(3, 64, 3, 1, 1)
  m.avgpool = nn.AdaptiveAvgPool2d(1)
  m.classifier[1] = nn.Linear(256, 4096)
  return m


def _vgg16_bn():
  m = tvm.vgg16_bn(num_classes=10)
  m.avgpool = nn.AdaptiveAvgPool2d(1)
  m.classifier = nn.Sequential(nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(), nn.Linear(512, 512),
                               nn.ReLU(True), nn.Dropout(), nn.Linear(512, 10))
  return m


def _googlenet():
  m = tvm.googlenet(num_classes=10, aux_logits=False, init_weights=False)
  m.conv1.conv = nn.Conv2d(3, 64, 7, 1, 3, bias=False)
  m.maxpool1 = nn.Identity()
  return m


# workload prefix -> (builder, image size, batch (None: --batch), classes)
WORKLOADS = {
    'alexnet': (_alexnet, 32, None, 10),
    'vgg16_bn': (_vgg16_bn, 32, None, 10),
    'resnet18': (_resnet(18), 32, None, 10),
    'resnet50': (_resnet(50), 32, None, 10),
    'googlenet': (_googlenet, 32, None, 10),
    'mobilenet_v2': (_mobilenet_v2, 32, None, 10),
    'resnet50 224px': (lambda: tvm.resnet50(), 224, 8, 1000),
}


def result(name, samples, batch, params):
  q = np.percentile(samples, [10, 90])
  med = statistics.median(samples)
  return dict(name=name, impl='torch', compile_s=None, median_s=med, min_s=min(samples),
              max_s=max(samples), p10_s=float(q[0]), p90_s=float(q[1]), runs=len(samples),
              number=1, flops=None, gflops=None, source=f'torch {torch.__version__} eager',
              info={'img_per_s': batch / med, 'items': batch, 'params': params}, samples_s=samples)


def train_step(model, size, batch, classes, channels=3, optimizer=None,
               memory_format=torch.contiguous_format):
  """One eager train step on a fixed random batch: cross-entropy with label smoothing 0.1,
  backward, and `optimizer` (default: the cnn_jax zoo's SGD, Nesterov momentum 0.9, weight
  decay 5e-4 on kernels only). `memory_format=torch.channels_last` puts the model and the
  batch in NHWC memory (PyTorch's advice for CPU convnets: its oneDNN kernels run
  channels-last natively). Returns the step function (it waits for the step)."""
  model.to(memory_format=memory_format)
  if optimizer is None:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{'params': decay, 'weight_decay': 5e-4},
                                 {'params': no_decay, 'weight_decay': 0.0}], lr=0.1,
                                momentum=0.9, nesterov=True)
  x = torch.rand(batch, channels, size, size).contiguous(memory_format=memory_format)
  y = torch.arange(batch) % classes
  model.train()

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    loss.backward()
    optimizer.step()
    return loss.item()  # waits for the step, as block_until_ready does

  return step


def time_step(model, size, batch, classes, steps, warmup):
  step = train_step(model, size, batch, classes)
  for _ in range(warmup):
    step()
  samples = []
  for _ in range(steps):
    t = time.perf_counter()
    step()
    samples.append(time.perf_counter() - t)
  return samples


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    'torch_results', 'models.json'))
  parser.add_argument('--models', nargs='*', default=list(WORKLOADS))
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=1)
  parser.add_argument('--threads', type=int, default=2)
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  results = []
  for prefix in args.models:
    build, size, batch, classes = WORKLOADS[prefix]
    batch = batch or args.batch
    model = build()
    params = sum(p.numel() for p in model.parameters())
    name = f'{prefix.split(" ")[0]} {size}px b{batch} train'  # cnn_jax's workload_name
    samples = time_step(model, size, batch, classes, args.steps, args.warmup)
    results.append(result(name, samples, batch, params))
    print(f'{name}: {params:,} params, median {statistics.median(samples) * 1e3:.1f} ms, '
          f'{batch / statistics.median(samples):.1f} img/s', flush=True)
  out = dict(baseline=None, peak_gflops=None, results=results,
             machine=dict(cpu=cpu_model(),
                          processor=platform.processor(), torch=torch.__version__,
                          torchvision=torchvision.__version__, threads=args.threads))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(out, f, indent=1)
  print('wrote', args.out)


if __name__ == '__main__':
  main()
