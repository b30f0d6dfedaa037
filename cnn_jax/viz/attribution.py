"""Pictures for "what convnets learn": top-k patch grids, filters, ascent images, attributions."""
import matplotlib.pyplot as plt
import numpy as np

from cnn_jax.viz.figures import save_png


def _norm(a: np.ndarray) -> np.ndarray:
  a = np.asarray(a, np.float32)
  lo, hi = a.min(), a.max()
  return (a - lo) / (hi - lo + 1e-12)


def patch_grid(patches: np.ndarray, channels, values, path: str, title: str = ''):
  """`[U, k, s, s, 3]` patches: one row per unit (channel id, top activation), k columns."""
  u, k = patches.shape[:2]
  fig, axes = plt.subplots(u, k, figsize=(1.3 * k, 1.4 * u), squeeze=False)
  for r in range(u):
    for c in range(k):
      ax = axes[r, c]
      ax.imshow(np.clip(patches[r, c], 0, 1), interpolation='nearest')
      ax.set_xticks([])
      ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(f'ch {int(channels[r])}\n{float(values[r, 0]):.3g}', fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return save_png(fig, path)


def filter_grid(kernel: np.ndarray, path: str, cols: int = 16):
  """First-layer filters HWIO `[kh, kw, 3, C]` as colour images (each min-max scaled)."""
  c = kernel.shape[-1]
  rows = -(-c // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.7, rows * 0.75), squeeze=False)
  for i, ax in enumerate(axes.ravel()):
    ax.axis('off')
    if i < c:
      ax.imshow(_norm(kernel[..., i]), interpolation='nearest')
  fig.suptitle(f'first-layer filters ({kernel.shape[0]}x{kernel.shape[1]}, BGR input shown as RGB '
               'after the input affine)', fontsize=8)
  return save_png(fig, path)


def ascent_grid(images: dict, path: str):
  """{layer: `[U, s, s, 3]`}: inputs maximising units, one row per layer."""
  rows, cols = len(images), max(len(v) for v in images.values())
  fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.1 * rows), squeeze=False)
  for r, (layer, ims) in enumerate(images.items()):
    for c in range(cols):
      ax = axes[r, c]
      ax.axis('off')
      if c < len(ims):
        ax.imshow(np.clip(ims[c], 0, 1))
        ax.set_title(f'{layer} #{c}', fontsize=7)
  fig.suptitle('gradient ascent on the input (jitter), VGG-19', fontsize=9)
  fig.tight_layout()
  return save_png(fig, path)


def attribution_sheet(photos: np.ndarray, names, att: dict, path: str, cam_layer: str):
  """One row per photo: photo | Grad-CAM overlay | saliency | guided backprop | SmoothGrad |
  IG | occlusion."""
  cols = ('photo', f'Grad-CAM {cam_layer}', 'saliency', 'guided backprop', 'SmoothGrad',
          'integrated grad.', 'occlusion')
  n = len(photos)
  fig, axes = plt.subplots(n, len(cols), figsize=(2.3 * len(cols), 2.4 * n), squeeze=False)
  h, w = photos.shape[1:3]
  for r in range(n):
    guided = np.abs(att['guided'][r]).max(-1)  # as saliency: max over channels of |g|
    panels = [photos[r], None, att['saliency'][r], guided, att['smooth'][r], att['ig'][r],
              att['occlusion'][r]]
    for c, (ax, title) in enumerate(zip(axes[r], cols)):
      ax.axis('off')
      if c == 1:
        ax.imshow(photos[r])
        ax.imshow(_norm(att['cam'][r]), cmap='jet', alpha=0.45, extent=(0, w, h, 0),
                  interpolation='bilinear')
      elif c == 0:
        ax.imshow(photos[r])
      else:
        ax.imshow(_norm(panels[c]), cmap='inferno' if c < 6 else 'RdBu_r')
      ax.set_title(f'{names[r]}: {att["top1"][r]}' if c == 0 else title, fontsize=7)
  fig.tight_layout()
  return save_png(fig, path)
