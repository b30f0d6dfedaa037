r"""Every ops.augment augmentation drawn on a real photo (skimage's astronaut), boxes moved.

Command:
  python launch.py --config experiments/augment_gallery.py --workdir runs/augment_gallery

Produces in the workdir: augment_gallery.png (one row per spec: the original, then 4 random
draws with the face box, detected by scikit-image's LBP cascade, where the augmentation
moved it), augment_gallery.json (per row: spec, value range, boxes), config.json.
Time on a 2-core CPU: ~25 s (one jit per row). Every draw stays in [0, 1]; see
docs/augment.md for the picture.
`:smoke` draws two rows, two samples each, on a 4x-downscaled photo (the tests run it).
Other specs: --config.specs="('rotate(degrees=45)', 'elastic(alpha=400.0, sigma=12.0)')".
"""
import ml_collections

SPECS = (
    'flip_lr',
    'flip_ud',
    'pad_crop(pad=40)',
    'pad_crop(pad=40, mode="reflect")',
    'random_resized_crop(scale=(0.25, 1.0))',
    'rotate(degrees=30)',
    'shear(x=25, y=10)',
    'affine(degrees=15, translate=0.1, scale=(0.8, 1.2), shear=10)',
    'elastic(alpha=400.0, sigma=12.0)',
    'color(brightness=0.4, contrast=0.4, saturation=0.6, hue=0.1)',
    'color_shift(delta=0.15)',
    'pca_lighting(std=0.1)',
    'pca_lighting(std=1.0)',
    'flip_lr|random_resized_crop(scale=(0.3, 1.0))|color(brightness=0.3, saturation=0.3)',
)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'augment_gallery'
  c.image = 'astronaut'    # a skimage.data photo (the face box needs a face)
  c.stride = 2             # downscale (512 -> 256)
  c.specs = SPECS          # one gallery row per ops.augment spec
  c.samples = 4            # random draws per row
  c.seed = 0
  c.extra_boxes = ((350.0, 10.0, 490.0, 250.0),)  # xyxy at full size: the shuttle
  if arg == 'smoke':
    c.stride = 4
    c.samples = 2
    c.specs = ('flip_lr|pad_crop(pad=8)|color_shift', 'rotate(degrees=(90, 90))')
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
