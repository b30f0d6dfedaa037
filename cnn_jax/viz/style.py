"""Style-transfer pictures: the result image, and content | style(s) | result | loss curves."""
import json
import os

import matplotlib.pyplot as plt
import numpy as np

from cnn_jax.viz.figures import save_png


def save_image(image: np.ndarray, path: str) -> None:
  """`[H, W, 3]` float in [0, 1] -> an 8-bit PNG at its own size (no figure margins)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  plt.imsave(path, np.clip(np.asarray(image), 0, 1))


def _series(jsonl: str) -> dict[str, list[tuple[int, float]]]:
  out: dict[str, list] = {}
  if not os.path.exists(jsonl):
    return out
  with open(jsonl) as f:
    for line in f:
      if line.strip():
        rec = json.loads(line)
        for k, v in rec.items():
          if k.startswith('train/') and k != 'train/step_per_sec':
            out.setdefault(k[len('train/'):], []).append((rec['step'], v))
  return out


def transfer_figure(content, styles, result, jsonl: str, path: str, title: str = '',
                    weights: dict | None = None, beside: dict | None = None,
                    label: str = 'result'):
  """content | each style | result | `beside` ({title: image}, e.g. another network's
  result), then the loss terms against the step (log scale): total, content, style (sum and
  per layer), TV, read from the run's metrics.jsonl. `weights` {'content': alpha, 'style':
  beta, 'tv': gamma} plots the weighted terms."""
  images = [('content', content)] + [(f'style {i + 1}' if len(styles) > 1 else 'style', s)
                                     for i, s in enumerate(styles)] + [(label, result)]
  images += list((beside or {}).items())
  fig, axes = plt.subplots(1, len(images) + 1, figsize=(4 * (len(images) + 1), 4))
  for ax, (name, im) in zip(axes, images):
    ax.imshow(np.clip(im, 0, 1))
    ax.set_title(f'{name} {im.shape[1]}x{im.shape[0]}')
    ax.axis('off')
  ax = axes[-1]
  weights = weights or {}
  for name, pts in sorted(_series(jsonl).items()):
    if name in ('grad_norm', 'update_norm', 'learning_rate'):
      continue
    steps, vals = zip(*pts)
    scale = weights.get(name, 1.0)
    label = f'{scale:g} x {name}' if scale != 1.0 else name
    ax.plot(steps, np.asarray(vals) * scale, label=label,
            lw=2 if name in ('loss', 'content', 'style', 'tv') else 0.8)
  if ax.lines:
    ax.set_yscale('log')
    ax.set_xlabel('step')
    ax.set_title('cost terms')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  else:  # no optimisation (AdaIN): nothing to plot
    ax.axis('off')
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return save_png(fig, path)


def read_png(path: str) -> np.ndarray:
  """A finished run's result.png as `[H, W, 3]` float32 in [0, 1]."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: config.beside names workdirs of finished runs.')
  return np.asarray(plt.imread(path), np.float32)[..., :3]
