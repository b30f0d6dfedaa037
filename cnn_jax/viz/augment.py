"""The augmentation gallery: one row per augmentation, the original then random draws, with
the boxes drawn where the augmentation moved them."""
import matplotlib.patches as patches
import numpy as np

from cnn_jax.viz.figures import plt  # pyplot on the Agg backend

BOX_COLORS = ('#ffdd00', '#00e5ff', '#ff4fd8', '#7cff4f')


def draw_boxes(ax, boxes: np.ndarray | None) -> None:
  """Outlines xyxy pixel boxes `[N, 4]` on `ax` (zero-area boxes, i.e. dropped, skipped)."""
  if boxes is None:
    return
  for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
    if x2 - x1 <= 0 or y2 - y1 <= 0:
      continue
    # imshow puts pixel (i, j)'s centre at (j, i): continuous x maps to x - 0.5.
    ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                   lw=1.6, edgecolor=BOX_COLORS[i % len(BOX_COLORS)]))


def gallery_figure(rows: list[tuple[str, list[np.ndarray], list[np.ndarray | None]]],
                   original: np.ndarray, boxes: np.ndarray | None, title: str = ''):
  """rows: (label, images `[H, W, C]` in [0, 1], boxes per image or None). Column 0 is the
  original with its boxes; the label (the spec) is written above the row's first draw.

  Returns: the matplotlib Figure.
  """
  cols = 1 + max(len(images) for _, images, _ in rows)
  fig, axes = plt.subplots(len(rows), cols, figsize=(2.0 * cols, 2.25 * len(rows)),
                           squeeze=False, gridspec_kw=dict(hspace=0.28, wspace=0.04))
  for r, (label, images, row_boxes) in enumerate(rows):
    for c in range(cols):
      ax = axes[r][c]
      ax.set_xticks([])
      ax.set_yticks([])
      image, image_boxes = (original, boxes) if c == 0 else (
          (images[c - 1], row_boxes[c - 1]) if c - 1 < len(images) else (None, None))
      if image is None:
        ax.axis('off')
        continue
      image = np.clip(np.asarray(image), 0, 1)
      ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                cmap='gray' if image.shape[-1] == 1 else None, vmin=0, vmax=1)
      draw_boxes(ax, image_boxes)
    axes[r][0].set_title('original', fontsize=8)
    axes[r][1].set_title(label, fontsize=8, loc='left')
  if title:
    fig.suptitle(title, fontsize=11, y=0.995)
  fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.7 / fig.get_figheight(), bottom=0.005)
  return fig
