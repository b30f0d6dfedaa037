r"""Edge maps of a real photo (skimage's camera): the course's vertical/horizontal filters,
Sobel gradient magnitude and direction.

Command:
  python launch.py --config experiments/edges.py --workdir runs/edges

Produces in the workdir: edges.png (input; course vertical and horizontal responses;
Sobel magnitude; thresholded edges; direction as hue), edges.json, config.json.
Time and result on a 2-core CPU: ~4 s end to end (mostly imports). camera 512x512 prints
vertical_abs_mean 0.094, horizontal_abs_mean 0.083, magnitude_mean 0.048, edge_fraction 0.037
(Sobel magnitude > 0.25): the outlines of the man, tripod and skyline (see edges.png).
`:smoke` filters a 4x-downscaled astronaut (the tests run it).
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'edges'
  c.image = 'camera'       # any skimage.data photo: camera, astronaut, coffee, chelsea...
  c.stride = 1             # take every stride-th pixel (downscale)
  c.operator = 'sobel'     # sobel | scharr | course
  c.threshold = 0.25       # magnitude above which a pixel counts as an edge
  c.impl = 'xla'           # conv formulation for the course filters (ops.conv.IMPLS)
  if arg == 'smoke':
    c.image = 'astronaut'
    c.stride = 4
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
