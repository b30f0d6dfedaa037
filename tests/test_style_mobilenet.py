"""Style transfer on MobileNetV2 features (torchvision's ImageNet weights, fetched once; skipped
only when the registry is unreachable): the softmax transform's scale, the layer list in
the bad-layer error, and a tiny run whose cost falls."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import weights
from cnn_jax.losses import style
from cnn_jax.tasks import style_transfer as st
from conftest import fetched_or_skip


@pytest.mark.slow
def test_mobilenet_style_transfer_tiny(tmp_path):
  import pathlib
  import runpy
  features = fetched_or_skip(st.MobileNetFeatures)
  a = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32))
  np.testing.assert_allclose(features.style_transform(a), style.softmax_features(a) * 60,
                             rtol=1e-6)  # mean 1 per image
  repo = pathlib.Path(__file__).parents[1] / 'experiments'
  config = runpy.run_path(str(repo / 'style_transfer_starry_night.py'))['get_config']('mobilenet')
  config.style_layers, config.style_layer_weights = ('features/1', 'features/3'), (0.5, 0.5)
  config.content_layer, config.steps, config.log_every, config.checkpoint_every = (
      'features/3', 4, 1, 4)
  rng = np.random.default_rng(1)
  content = rng.uniform(size=(32, 32, 3)).astype(np.float32)
  styles = [rng.uniform(size=(40, 40, 3)).astype(np.float32) ** 3]
  image, stats = st.optimise(features, content, styles, config, str(tmp_path / 'm'),
                             show_progress=False)
  losses = [json.loads(line)['train/loss'] for line in open(tmp_path / 'm' / 'metrics.jsonl')]
  assert losses[-1] < losses[0] and image.shape == (32, 32, 3)
  config.content_layer = 'conv4_2'
  with pytest.raises(ValueError, match=r"no layers \['conv4_2'\].*features/18"):
    st.optimise(features, content, styles, config, str(tmp_path / 'b'), show_progress=False)
