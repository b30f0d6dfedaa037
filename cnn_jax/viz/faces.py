"""Face verification pictures: hardest pairs with their distances, the ROC curve, a one-shot
gallery, and a 2-D projection of the embeddings coloured by identity. Each returns
`figures.save_png`'s (png bytes, height, width)."""
from typing import Sequence

import numpy as np

from cnn_jax.viz.figures import plt, save_png


def _show(ax, image):
  image = np.asarray(image)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray', vmin=0, vmax=1)
  ax.set_xticks([])
  ax.set_yticks([])


def plot_pairs(images: np.ndarray, pairs: np.ndarray, same: np.ndarray, dist: np.ndarray,
               threshold: float, png_path: str, per_kind: int = 6):
  """The hardest pairs: the `per_kind` farthest same-person pairs and the `per_kind` closest
  different-person pairs, each with its distance, red when the threshold gets it wrong.

  images [N, H, W, C] in [0, 1]; pairs int [M, 2]; same bool [M]; dist [M].
  """
  same = np.asarray(same, bool)
  hard_pos = np.flatnonzero(same)[np.argsort(-dist[same])][:per_kind]
  hard_neg = np.flatnonzero(~same)[np.argsort(dist[~same])][:per_kind]
  rows = [('same person, farthest', hard_pos), ('different people, closest', hard_neg)]
  cols = max(len(hard_pos), len(hard_neg), 1)
  fig, axes = plt.subplots(4, cols, figsize=(1.6 * cols, 7.2), squeeze=False)
  for r, (title, idx) in enumerate(rows):
    for c in range(cols):
      top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
      top.axis('off'), bottom.axis('off')
      if c >= len(idx):
        continue
      k = idx[c]
      _show(top, images[pairs[k, 0]])
      _show(bottom, images[pairs[k, 1]])
      wrong = (dist[k] < threshold) != same[k]
      top.set_title(f'd={dist[k]:.3f}', fontsize=8, color='red' if wrong else 'black')
    axes[2 * r, 0].text(0, 1.3, title, transform=axes[2 * r, 0].transAxes, fontsize=9)
  fig.suptitle(f'hardest pairs (threshold {threshold:.3f}; red: misclassified)', fontsize=10)
  return save_png(fig, png_path)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc: float, eer: float, png_path: str,
             label: str = ''):
  """ROC (TPR = VAL against FPR = FAR), log-scaled FAR axis, with AUC and EER."""
  fig, ax = plt.subplots(figsize=(4.5, 4))
  ax.plot(np.maximum(fpr, 1e-4), tpr, lw=1.5, label=f'{label} AUC {auc:.4f}, EER {eer:.3f}')
  ax.plot([1e-4, 1], [1e-4, 1], ':', color='grey', lw=0.8)
  ax.set_xscale('log')
  ax.set_xlim(1e-3, 1)
  ax.set_ylim(0, 1.01)
  ax.set_xlabel('false accept rate (different pairs accepted)')
  ax.set_ylabel('true accept rate (same pairs accepted)')
  ax.legend(loc='lower right', fontsize=8)
  ax.grid(alpha=0.3)
  return save_png(fig, png_path)


def plot_one_shot(images: np.ndarray, queries: np.ndarray, support: np.ndarray,
                  dist: np.ndarray, correct: np.ndarray, png_path: str):
  """Rows of one-shot episodes: the query, then the database (one image per person) with
  each distance; the nearest is framed green when right, red when wrong.

  queries int [R]; support int [R, N]; dist [R, N]; correct int [R] (column of the right one).
  """
  rows, n = support.shape
  fig, axes = plt.subplots(rows, n + 1, figsize=(1.3 * (n + 1), 1.6 * rows), squeeze=False)
  for r in range(rows):
    _show(axes[r, 0], images[queries[r]])
    axes[r, 0].set_title('query', fontsize=8)
    best = int(np.argmin(dist[r]))
    for c in range(n):
      ax = axes[r, c + 1]
      _show(ax, images[support[r, c]])
      ax.set_title(f'{dist[r, c]:.2f}', fontsize=8)
      if c == best:
        colour = 'green' if best == correct[r] else 'red'
        for spine in ax.spines.values():
          spine.set_edgecolor(colour)
          spine.set_linewidth(3)
  fig.suptitle(f'{n}-way one-shot: nearest database face (green right, red wrong)', fontsize=10)
  return save_png(fig, png_path)


def plot_embedding_2d(embeddings: np.ndarray, labels: np.ndarray, png_path: str,
                      names: Sequence[str] | None = None):
  """Embeddings projected on their two principal components, one colour per identity."""
  x = np.asarray(embeddings, np.float64)
  x = x - x.mean(0)
  _, s, vt = np.linalg.svd(x, full_matrices=False)
  xy = x @ vt[:2].T
  explained = (s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-12)
  fig, ax = plt.subplots(figsize=(5, 4.5))
  ids = np.unique(labels)
  cmap = plt.get_cmap('tab20', max(len(ids), 1))
  for i, c in enumerate(ids):
    m = labels == c
    ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(i), label=names[c] if names else str(c))
  if len(ids) <= 12:
    ax.legend(fontsize=7, ncol=2)
  ax.set_title(f'embeddings, PCA (2 components: {100 * explained:.0f}% of the variance)', fontsize=9)
  return save_png(fig, png_path)
