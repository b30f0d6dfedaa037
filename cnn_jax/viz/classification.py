"""Pictures of a classifier: confusion matrix and a grid of images with predicted labels."""
from typing import Sequence

import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def most_frequent_confusions(matrix: np.ndarray, n: int) -> list[tuple[int, int, int]]:
  """The `n` largest off-diagonal cells of a confusion matrix `[K, K]` as (true, predicted,
  count), largest first, ties in row-major order; cells with count 0 are left out."""
  matrix = np.asarray(matrix)
  off = np.where(np.eye(len(matrix), dtype=bool), 0, matrix).ravel()
  order = np.argsort(-off, kind='stable')[:n]
  return [(int(c // len(matrix)), int(c % len(matrix)), int(off[c])) for c in order if off[c] > 0]


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], png_path: str,
                   max_annotated: int = 30):
  """Confusion matrix `[K, K]` (rows true, columns predicted).

  Up to `max_annotated` classes every cell shows its count and every class its name. Above
  that (ImageNet's 1,000) a per-cell drawing would be unreadable and take minutes, so the
  matrix is drawn on a log colour scale at a fixed size and the ten most frequent confusions
  (true -> predicted: count) are listed beside it instead.
  """
  matrix = np.asarray(matrix)
  k = len(matrix)
  acc = np.trace(matrix) / max(matrix.sum(), 1)
  title = f'accuracy {acc:.2%} on {int(matrix.sum())} images'
  if k > max_annotated:
    fig, ax = plt.subplots(figsize=(12, 9))
    ax.imshow(np.log1p(matrix), cmap='Blues', interpolation='nearest')
    lines = [f'{class_names[i]} -> {class_names[j]}: {n}'
             for i, j, n in most_frequent_confusions(matrix, 10)]
    ax.text(1.02, 1.0, 'most frequent confusions\n' + '\n'.join(lines), transform=ax.transAxes,
            va='top', fontsize=8, family='monospace')
    ax.set_xlabel('predicted class index')
    ax.set_ylabel('true class index')
    ax.set_title(title + ' (colour: log(1 + count))')
    return save_png(fig, png_path)
  fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
  ax.imshow(matrix, cmap='Blues')
  for i in range(k):
    for j in range(k):
      ax.text(j, i, f'{int(matrix[i, j])}', ha='center', va='center', fontsize=7,
              color='white' if matrix[i, j] > matrix.max() / 2 else 'black')
  ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
  ax.set_yticks(range(k), class_names, fontsize=7)
  ax.set_xlabel('predicted')
  ax.set_ylabel('true')
  ax.set_title(title)
  return save_png(fig, png_path)


def plot_predictions(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                     class_names: Sequence[str], png_path: str, cols: int = 8):
  """Images `[N, H, W, C]` in [0, 1] titled 'pred (true)'; wrong predictions in red."""
  rows = -(-len(images) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.55 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis('off')
  for ax, im, y, p in zip(axes.flat, images, labels, predicted):
    ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap='gray', vmin=0, vmax=1)
    ax.set_title(f'{class_names[p]} ({class_names[y]})', fontsize=7,
                 color='black' if p == y else 'red')
  return save_png(fig, png_path)
