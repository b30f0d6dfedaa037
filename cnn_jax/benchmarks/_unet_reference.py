"""Workloads of the `unet` benchmark suite, and PyTorch eager's train step for the same U-Net.

The SAME U-Net of `cnn_jax.models.unet` (two 3x3 conv -> BN -> ReLU per level, 2x2 max pool,
2x2 stride-2 transpose conv, [skip, up] concatenated, 1x1 head) written in torch.nn with the
same widths, timed as one train step (forward in train mode, pixel cross-entropy, backward,
Adam update) on the same seeded batch, in a throwaway venv with torch==2.14.1
torchvision==0.29.1 (never a project dependency), 2 threads (the 2-core CPU). Writes a
`cnn_jax.bench` JSON (impl 'torch', with the machine it ran on) that the benchmark joins:

    python cnn_jax/benchmarks/_unet_reference.py --out benchmarks/torch_results/unet.json

This file imports no jax (run as a script it imports nothing of cnn_jax either).
"""
import argparse
import json
import os
import statistics

import numpy as np

try:
  from cnn_jax.benchmarks._boxes_reference import _result, _time, write
except ImportError:  # run as a script in the torch venv, where cnn_jax is not installed
  from _boxes_reference import _result, _time, write

WIDTHS = (16, 32, 64, 128)
CLASSES, CHANNELS = 2, 1


def workloads(smoke: bool) -> list[dict]:
  """(size, batch, widths) of each train-step case."""
  if smoke:
    return [dict(size=32, batch=2, widths=(4, 8))]
  return [dict(size=128, batch=8, widths=WIDTHS), dict(size=256, batch=4, widths=WIDTHS)]


def name(w: dict) -> str:
  """The table row, e.g. 'unet SAME 16-128 128px b8 train' (both sides use it)."""
  return (f"unet SAME {w['widths'][0]}-{w['widths'][-1]} {w['size']}px b{w['batch']} "
          'train')


def batch(w: dict, seed: int = 0):
  """(images [B, H, W, 1] float32 in [0, 1], labels [B, H, W] int32 in [0, CLASSES))."""
  rng = np.random.default_rng(seed)
  shape = (w['batch'], w['size'], w['size'])
  return (rng.random((*shape, CHANNELS), np.float32),
          rng.integers(0, CLASSES, shape).astype(np.int32))


def torch_unet(widths):
  """The U-Net in torch.nn (NCHW), layer for layer the SAME `models.unet.UNet`."""
  import torch
  from torch import nn

  def double(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

  class UNet(nn.Module):
    def __init__(self):
      super().__init__()
      self.down = nn.ModuleList()
      c = CHANNELS
      for w in widths[:-1]:
        self.down.append(double(c, w))
        c = w
      self.bottom = double(c, widths[-1])
      self.upconv = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                  for i in reversed(range(len(widths) - 1)))
      self.up = nn.ModuleList(double(2 * widths[i], widths[i])
                              for i in reversed(range(len(widths) - 1)))
      self.head = nn.Conv2d(widths[0], CLASSES, 1)

    def forward(self, x):
      skips = []
      for block in self.down:
        x = block(x)
        skips.append(x)
        x = nn.functional.max_pool2d(x, 2)
      x = self.bottom(x)
      for upconv, block in zip(self.upconv, self.up):
        x = upconv(x)
        x = block(torch.cat([skips.pop(), x], 1))
      return self.head(x)

  return UNet()


def reference_results(smoke: bool = False, runs: int = 10, threads: int = 2) -> list[dict]:
  import torch
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  out = []
  for w in workloads(smoke):
    model = torch_unet(w['widths']).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    images, labels = batch(w)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels).long()

    def step():
      opt.zero_grad(set_to_none=True)
      loss = torch.nn.functional.cross_entropy(model(x), y)
      loss.backward()
      opt.step()
      return loss

    samples, number = _time(step, runs, 2, 0.02)
    params = sum(p.numel() for p in model.parameters())
    median = statistics.median(samples)
    out.append(_result(name(w), samples, number, f'torch {torch.__version__} eager '
                       f'({threads} threads)', dict(items=w['batch'], params=params,
                                                  img_per_s=w['batch'] / median)))
    out[-1]['impl'] = 'torch'
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/torch_results/unet.json')
  parser.add_argument('--smoke', action='store_true')
  parser.add_argument('--runs', type=int, default=10)
  args = parser.parse_args()
  load_before = os.getloadavg()
  results = reference_results(args.smoke, args.runs)
  write(results, args.out)
  try:
    from cnn_jax.benchmarks._yolo_reference import machine
  except ImportError:
    from _yolo_reference import machine
  with open(args.out) as f:   # the same JSON, with where it was measured
    data = json.load(f)
  data['machine'] = {**machine(), 'load_average_before': [round(x, 2) for x in load_before]}
  with open(args.out, 'w') as f:
    json.dump(data, f, indent=1)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
