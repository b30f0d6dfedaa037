"""Saving matplotlib figures as PNG files (headless Agg backend), atomically.

The one place that picks the backend and writes PNGs: viz modules take `plt` from here and
return `save_png`'s (png bytes, height, width), which the runner also sends to TensorBoard.
"""
import io
import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def save_png(fig, path: str, dpi: int = 110) -> tuple[bytes, int, int]:
  """Writes `fig` to `path` (temp file + rename, so a crash leaves no half PNG), closes it,
  and returns (png bytes, height, width) for TensorBoard."""
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=dpi, bbox_inches='tight')
  plt.close(fig)
  png = buf.getvalue()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + '.tmp', 'wb') as f:
    f.write(png)
  os.replace(path + '.tmp', path)
  width, height = int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')
  return png, height, width
