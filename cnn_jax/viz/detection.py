"""Pictures for detectors: faces with boxes and 5 landmarks, sliding-window heat maps."""
import matplotlib.patches as patches
import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend

_MARK_COLOURS = ('#00e5ff', '#00e5ff', '#ffea00', '#ff4081', '#ff4081')  # eyes, nose, mouth


def _show(ax, image):
  image = np.asarray(image)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
            cmap='gray' if image.shape[-1] == 1 else None)
  ax.set_xticks([]), ax.set_yticks([])


def _box(ax, xyxy, colour, text=None, style='-'):
  x1, y1, x2, y2 = (float(v) for v in xyxy)
  ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                                 linewidth=1.6, linestyle=style))
  if text:
    ax.text(x1, y1 - 2, text, color='black', fontsize=7, va='bottom',
            bbox=dict(facecolor=colour, edgecolor='none', pad=1))


def plot_faces(images: list, boxes: list, scores: list, landmarks: list, titles: list,
               png_path: str, columns: int = 3) -> tuple[bytes, int, int]:
  """One panel per image: face boxes (xyxy px) with scores and the 5 landmarks
  (`[F, 5, 2]`, eyes cyan, nose yellow, mouth corners pink). Lists of per-image arrays."""
  n = len(images)
  cols = min(columns, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
  for ax in axes.ravel()[n:]:
    ax.axis('off')
  for ax, image, b, s, marks, title in zip(axes.ravel(), images, boxes, scores, landmarks,
                                           titles):
    _show(ax, image)
    for box, score, points in zip(b, s, marks):
      _box(ax, box, '#76ff03', f'{score:.3f}')
      ax.scatter(points[:, 0], points[:, 1], s=12, c=_MARK_COLOURS, edgecolors='black',
                 linewidths=0.4)
    ax.set_title(f'{title}: {len(b)} face{"s" if len(b) != 1 else ""}', fontsize=9)
  fig.tight_layout()
  return save_png(fig, png_path)


def plot_window_heatmap(image: np.ndarray, heat: np.ndarray, window: int, stride: int,
                        detections: np.ndarray, labels: np.ndarray, true_boxes: np.ndarray,
                        png_path: str, title: str = '') -> tuple[bytes, int, int]:
  """The canvas with its detections (solid, labelled) and true boxes (dashed), beside the heat
  map of window scores `[H', W']` drawn over the window centres (cell (i, j) centred at
  (s j + window / 2, s i + window / 2) px)."""
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6))
  _show(left, image)
  for box in true_boxes:
    _box(left, box, '#ffffff', style='--')
  for box, label in zip(detections, labels):
    _box(left, box, '#ff1744', str(label))
  left.set_title('detections (red) and true boxes (dashed)', fontsize=9)
  _show(right, image)
  gh, gw = heat.shape
  extent = (window / 2 - stride / 2, window / 2 + stride * (gw - 0.5),
            window / 2 + stride * (gh - 0.5), window / 2 - stride / 2)
  shown = right.imshow(heat, cmap='inferno', alpha=0.75, extent=extent, vmin=0, vmax=1)
  right.set_xlim(0, image.shape[1]), right.set_ylim(image.shape[0], 0)
  right.set_title(f'P(digit) per window ({gh}x{gw}, stride {stride} px)', fontsize=9)
  fig.colorbar(shown, ax=right, fraction=0.04)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return save_png(fig, png_path)
