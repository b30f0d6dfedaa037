"""Pictures of a classifier: confusion matrix and a grid of images with predicted labels."""
from typing import Sequence

import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], png_path: str):
  """Confusion matrix `[K, K]` (rows true, columns predicted) with counts in the cells."""
  k = len(matrix)
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
  acc = np.trace(matrix) / max(matrix.sum(), 1)
  ax.set_title(f'accuracy {acc:.2%} on {int(matrix.sum())} images')
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
