"""The R-CNN lineage's proposal picture: one row per proposal method, one column per image."""
import matplotlib.patches as patches
import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def plot_proposals_per_method(images: np.ndarray, methods: dict, truth, num: int,
                              png_path: str) -> tuple[bytes, int, int]:
  """images `[B, H, W, C]` in [0, 1]; methods {name: (boxes [B, K, 4], valid [B, K])}, drawn
  best-ranked first, at most `num` per image (thin, coloured by rank); truth (boxes
  [B, G, 4], valid [B, G]) dashed white. The row title counts the proposals drawn."""
  names = list(methods)
  b = len(images)
  fig, axes = plt.subplots(len(names), b, figsize=(2.2 * b, 2.4 * len(names)), squeeze=False)
  colours = plt.get_cmap('viridis')
  for r, name in enumerate(names):
    boxes, valid = methods[name]
    for i in range(b):
      ax = axes[r, i]
      ax.set_xticks([]), ax.set_yticks([])
      image = np.asarray(images[i])
      ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray', vmin=0, vmax=1)
      shown = np.flatnonzero(valid[i])[:num]
      for rank, j in enumerate(shown):
        x1, y1, x2, y2 = (float(v) for v in boxes[i, j])
        ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linewidth=0.6,
                                       edgecolor=colours(rank / max(len(shown) - 1, 1))))
      for box, ok in zip(*(np.asarray(t[i]) for t in truth)):
        if ok:
          x1, y1, x2, y2 = (float(v) for v in box)
          ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                         edgecolor='white', linewidth=1.0, linestyle='--'))
      if i == 0:
        ax.set_ylabel(name, fontsize=8)
      ax.set_title(f'{len(shown)} proposals', fontsize=7)
  fig.suptitle(f'top-{num} proposals per method (yellow = lower rank); truth dashed', fontsize=9)
  return save_png(fig, png_path)
