"""Segmentation pictures: image | true mask | predicted mask | errors, and the transpose
convolution's scatter-and-sum on a 2x2 input (the course's picture)."""
import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def _colours(num_classes: int) -> np.ndarray:
  """`[K, 3]`: black background, then tab10/tab20 colours."""
  cmap = plt.get_cmap('tab10' if num_classes <= 11 else 'tab20')
  return np.concatenate([[[0.0, 0.0, 0.0]], [cmap(i % cmap.N)[:3] for i in range(num_classes - 1)]])


def plot_segmentation(images: np.ndarray, truth: np.ndarray, pred: np.ndarray,
                      class_names, path: str):
  """Rows of (image `[H, W, C]` in [0, 1], true classes `[H, W]`, predicted classes, errors:
  the image in grey with wrong pixels red (missed foreground) / cyan (false foreground) /
  yellow (wrong foreground class)). Returns `save_png`'s (png, height, width)."""
  colours = _colours(len(class_names))
  rows = len(images)
  fig, axes = plt.subplots(rows, 4, figsize=(10, 2.6 * rows), squeeze=False)
  for r in range(rows):
    image = np.clip(np.asarray(images[r], np.float32), 0, 1)
    grey = image.mean(-1)
    t, p = np.asarray(truth[r]), np.asarray(pred[r])
    errors = np.repeat(grey[..., None] * 0.6, 3, -1)
    errors[(t > 0) & (p == 0)] = (1.0, 0.1, 0.1)
    errors[(t == 0) & (p > 0)] = (0.1, 0.9, 1.0)
    errors[(t > 0) & (p > 0) & (t != p)] = (1.0, 0.9, 0.1)
    shown = [(grey, 'image'), (colours[np.clip(t, 0, len(colours) - 1)], 'true mask'),
             (colours[p], 'predicted'),
             (errors, f'errors: {(t != p).mean():.1%} of pixels')]
    for c, (picture, title) in enumerate(shown):
      ax = axes[r][c]
      ax.imshow(picture, cmap='gray' if picture.ndim == 2 else None, vmin=0, vmax=1,
                interpolation='nearest')
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(title, fontsize=8)
  fig.suptitle('red: missed foreground, cyan: false foreground, yellow: wrong class',
               fontsize=9)
  fig.tight_layout()
  return save_png(fig, path, dpi=90)


def plot_transpose_conv(x: np.ndarray, kernel: np.ndarray, output: np.ndarray, path: str):
  """The course's picture of a stride-2 transpose convolution on a 2x2 input: each input
  value times the kernel is written onto the output at (2i, 2j) and overlaps add. Panels:
  the input, the kernel, the four scaled copies placed on the output grid, their sum
  (`output`, e.g. from `ops.conv_transpose`)."""
  n, f = x.shape[0], kernel.shape[0]
  size = output.shape[0]
  fig, axes = plt.subplots(1, 3 + n * n, figsize=(2.2 * (3 + n * n), 2.6))

  def grid(ax, values, title):
    ax.imshow(values, cmap='coolwarm', vmin=-np.abs(output).max(), vmax=np.abs(output).max())
    for (i, j), v in np.ndenumerate(values):
      ax.text(j, i, f'{v:g}', ha='center', va='center', fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)

  grid(axes[0], x, 'input 2x2')
  grid(axes[1], kernel, f'kernel {f}x{f}')
  stride = (size - f) // max(n - 1, 1)
  for k, (i, j) in enumerate(np.ndindex(n, n)):
    canvas = np.zeros_like(output)
    canvas[i * stride:i * stride + f, j * stride:j * stride + f] = x[i, j] * kernel
    grid(axes[2 + k], canvas, f'x[{i},{j}] * kernel at ({i * stride},{j * stride})')
  grid(axes[-1], output, 'sum = output')
  fig.tight_layout()
  return save_png(fig, path, dpi=90)
