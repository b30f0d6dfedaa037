"""Pictures of filters and of what they respond to: edge maps and kernel grids."""
import matplotlib.colors
import numpy as np

from cnn_jax.viz.figures import plt  # pyplot on the Agg backend


def edge_figure(image: np.ndarray, panels: dict[str, np.ndarray], direction: np.ndarray | None = None,
                magnitude: np.ndarray | None = None, title: str = ''):
  """A grid: the photo, then one grayscale panel per named response, then (optionally) the
  gradient direction as hue with the magnitude as brightness.

  Args:
    image: `[H, W]` or `[H, W, 3]` in [0, 1].
    panels: name -> `[H', W']` response (signed responses drawn with a diverging colormap
      centred on 0, non-negative ones in grays).
    direction, magnitude: `[H, W]` radians and magnitude, for the colour-wheel panel.
  Returns: the matplotlib Figure.
  """
  n = 1 + len(panels) + (direction is not None)
  cols = min(n, 3)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
  axes = axes.ravel()
  axes[0].imshow(image, cmap='gray' if image.ndim == 2 else None, vmin=0, vmax=1)
  axes[0].set_title('input')
  for ax, (name, r) in zip(axes[1:], panels.items()):
    r = np.asarray(r)
    if r.min() < 0:
      lim = float(np.percentile(np.abs(r), 99.5)) or 1.0
      im = ax.imshow(r, cmap='RdBu_r', vmin=-lim, vmax=lim)
    else:
      im = ax.imshow(r, cmap='gray', vmin=0, vmax=float(np.percentile(r, 99.5)) or 1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    ax.set_title(name)
  if direction is not None:
    hue = (np.asarray(direction) + np.pi) / (2 * np.pi)
    mag = np.asarray(magnitude) if magnitude is not None else np.ones_like(hue)
    val = np.clip(mag / (np.percentile(mag, 99.5) or 1.0), 0, 1)
    hsv = np.stack([hue, np.ones_like(hue), val], -1)
    axes[n - 1].imshow(matplotlib.colors.hsv_to_rgb(hsv))
    axes[n - 1].set_title('direction (hue) x magnitude')
  for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
  for ax in axes[n:]:
    ax.axis('off')
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return fig


def kernel_grid(kernels: np.ndarray, title: str = '', max_filters: int = 64):
  """Draws conv kernels `[f_h, f_w, C_in, C_out]` (HWIO): one tile per output filter, RGB
  when C_in = 3 (min-max scaled per filter), else the mean over input channels.

  Returns: the matplotlib Figure.
  """
  w = np.asarray(kernels)
  if w.ndim != 4:
    raise ValueError(f'Kernels {w.shape} must be [f_h, f_w, C_in, C_out].')
  count = min(w.shape[-1], max_filters)
  cols = int(np.ceil(np.sqrt(count)))
  rows = -(-count // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
  for i, ax in enumerate(axes.ravel()):
    ax.axis('off')
    if i >= count:
      continue
    k = w[..., i]
    k = k if k.shape[-1] == 3 else k.mean(-1)
    k = (k - k.min()) / (k.max() - k.min() + 1e-12)
    ax.imshow(k, cmap=None if k.ndim == 3 else 'gray', interpolation='nearest')
  if title:
    fig.suptitle(title)
  return fig
