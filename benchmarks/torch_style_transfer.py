"""PyTorch eager timing of the same Gatys step as `tasks/style_transfer.py`, same weights.

Run in a throwaway venv with torch==2.14.1 (cnn_jax never imports torch):
  python benchmarks/torch_style_transfer.py ~/.cache/cnn_jax/vgg_normalized.pth 256 512
  -> benchmarks/torch_results/style_transfer.json

The step: a square px x px image (the astronaut is square, so the JAX runs are too) through the 1x1 input conv and VGG-19 with zero padding up to
relu5_1 (relu4_2 for content), course content and style costs (five relu*_1 layers, weights
0.2, raw Grams / (4 C^2 (HW)^2)), alpha 1, beta 1e3, TV weight 1e-2, backward, Adam(0.02)
and the clamp to [0, 1] — what the JAX step does with config `style_transfer_starry_night`.
Targets are random features of the right shapes (timing only). `--threads` defaults to
torch's choice. Protocol: 2 warm-up steps, then `RUNS` timed steps, median and p10.
"""
import json
import os
import platform
import statistics
import sys
import time

import torch
from torch import nn

RUNS = 5
CFG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512)
STYLE = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')


def build(state):
  first = nn.Conv2d(3, 3, 1)
  first.weight.data, first.bias.data = state['0.weight'], state['0.bias']
  keys = sorted({int(k.split('.')[0]) for k in state})[1:]
  convs, c_in = [], 3
  for width in (w for w in CFG if w != 'M'):
    conv = nn.Conv2d(c_in, width, 3, padding=1)
    k = keys[len(convs)]
    conv.weight.data, conv.bias.data = state[f'{k}.weight'], state[f'{k}.bias']
    conv.requires_grad_(False)
    convs.append(conv)
    c_in = width
  first.requires_grad_(False)

  def run(x):
    out, x, block, k, i = {}, first(x), 1, 1, 0
    for entry in CFG:
      if entry == 'M':
        x = nn.functional.max_pool2d(x, 2, 2)
        block, k = block + 1, 1
        continue
      x = torch.relu(convs[i](x))
      out[f'relu{block}_{k}'] = x
      i, k = i + 1, k + 1
    return out
  return run


def gram(f):
  _, c, h, w = f.shape
  flat = f.reshape(c, h * w)
  return flat @ flat.t()


def time_px(net, px):
  with torch.no_grad():
    feats = net(torch.rand(1, 3, px, px))
  content = feats['relu4_2'].clone()
  grams = {k: gram(torch.rand_like(feats[k])) for k in STYLE}
  image = torch.rand(1, 3, px, px, requires_grad=True)
  opt = torch.optim.Adam([image], lr=0.02)

  def step():
    opt.zero_grad()
    f = net(image)
    c = f['relu4_2']
    loss = ((c - content) ** 2).sum() / (4 * c[0].numel())
    s = 0.0
    for k in STYLE:
      _, ch, h, w = f[k].shape
      s = s + 0.2 * ((gram(f[k]) - grams[k]) ** 2).sum() / (4 * ch ** 2 * (h * w) ** 2)
    tv = ((image[:, :, 1:] - image[:, :, :-1]) ** 2).sum() + ((image[:, :, :, 1:] - image[:, :, :, :-1]) ** 2).sum()
    loss = loss + 1e3 * s + 1e-2 * tv
    loss.backward()
    opt.step()
    with torch.no_grad():
      image.clamp_(0, 1)
  for _ in range(2):
    step()
  times = []
  for _ in range(RUNS):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  return {'px': px, 'median_s': statistics.median(times), 'p10_s': sorted(times)[0], 'runs': times}


def main():
  state = torch.load(os.path.expanduser(sys.argv[1]), map_location='cpu')
  net = build(state)
  rows = [time_px(net, int(px)) for px in sys.argv[2:]]
  out = {'torch': torch.__version__, 'threads': torch.get_num_threads(),
         'machine': platform.processor() or platform.machine(),
         'load_average': os.getloadavg(), 'rows': rows}
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch_results', 'style_transfer.json')
  with open(path, 'w') as f:
    json.dump(out, f, indent=1)
  print(json.dumps(out))


if __name__ == '__main__':
  main()
