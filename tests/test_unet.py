"""U-Net: the paper's shape table (no compile), SAME sizes, the transpose conv's
scatter-and-sum by hand, overlap-tile == whole-image output, and the size errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.models import unet
from conftest import fetched_or_skip


def test_paper_unet_shape_table_572_to_388():
  """The paper's Fig. 1 sizes and the parameter count from the layer formulas
  (3x3 conv: 9 C_in C_out + C_out; 2x2 up-conv: 4 C_in C_out + C_out; 1x1 head)."""
  model = models.create('unet', num_classes=2)
  rows = {r.layer: r for r in models.summarize(model, (572, 572, 1))}
  expected = {'down1': (568, 568, 64), 'pool1': (284, 284, 64), 'down2': (280, 280, 128),
              'down3': (136, 136, 256), 'down4': (64, 64, 512), 'pool4': (32, 32, 512),
              'bottom': (28, 28, 1024), 'upconv4': (56, 56, 512), 'up4': (52, 52, 512),
              'up3': (100, 100, 256), 'up2': (196, 196, 128), 'upconv1': (392, 392, 64),
              'up1': (388, 388, 64), 'head': (388, 388, 2)}
  for layer, shape in expected.items():
    assert rows[layer].shape == shape, layer
  conv = lambda i, o: 9 * i * o + o
  widths = (64, 128, 256, 512, 1024)
  total, c_in = 0, 1
  for w in widths:  # contracting path and bottom
    total += conv(c_in, w) + conv(w, w)
    c_in = w
  for w in reversed(widths[:-1]):  # up-conv, then two convs on [skip, up] = 2w channels
    total += 4 * c_in * w + w + conv(2 * w, w) + conv(w, w)
    c_in = w
  total += 64 * 2 + 2
  assert rows['Total'].params == total == 31_030_658
  assert unet.margin(4) == 92 and unet.valid_output_size(572, 4) == 388


def test_same_unet_keeps_the_size_and_transpose_conv_scatters_by_hand():
  model = unet.UNet(num_classes=3, widths=(4, 8, 16), padding='SAME', batch_norm=True)
  x = jnp.ones((2, 24, 16, 1))
  shapes = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x)[0])
  assert shapes.shape == (2, 24, 16, 3)
  # Stride 2, 2x2 kernel: each input value pastes value * kernel at (2i, 2j), no overlap.
  layer = unet.ConvTranspose(1, kernel_size=2, strides=2, use_bias=False)
  kernel = jnp.array([[1.0, 10.0], [100.0, 1000.0]])[:, :, None, None]
  x = jnp.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
  y = layer.apply({'params': {'kernel': kernel}}, x)[0, :, :, 0]
  np.testing.assert_array_equal(y, np.kron(np.array([[1, 2], [3, 4]]), [[1, 10], [100, 1000]]))
  # 3x3 kernel, stride 2: neighbours overlap on one row/column and add.
  layer = unet.ConvTranspose(1, kernel_size=3, strides=2, use_bias=False)
  y = layer.apply({'params': {'kernel': jnp.ones((3, 3, 1, 1))}}, x)[0, :, :, 0]
  expected = np.zeros((5, 5))
  for (i, j), v in np.ndenumerate(np.array([[1.0, 2.0], [3.0, 4.0]])):
    expected[2 * i:2 * i + 3, 2 * j:2 * j + 3] += v
  np.testing.assert_array_equal(y, expected)


@pytest.mark.slow
def test_overlap_tile_equals_the_whole_image_output():
  """Depth 2 (margin 20): a 52x52 output from 92x92 mirrored input, in 60-px tiles (20-px
  outputs) starting on multiples of 4, equals the whole-image output."""
  model = unet.UNet(num_classes=2, widths=(4, 8, 16))
  assert unet.margin(2) == 20 and unet.valid_output_size(92, 2) == 52
  assert unet.valid_output_size(60, 2) == 20
  variables = model.init(jax.random.key(0), jnp.zeros((1, 60, 60, 1)))
  apply = jax.jit(lambda x: model.apply(variables, x))
  image = np.asarray(jax.random.uniform(jax.random.key(1), (52, 52, 1)))
  tiled = unet.predict_overlap_tile(apply, image, tile=60, depth=2)
  whole = apply(jnp.asarray(np.pad(image, ((20, 20), (20, 20), (0, 0)), mode='symmetric'))[None])
  assert unet.tile_starts(52, 20, 4) == [0, 20, 32]
  np.testing.assert_allclose(tiled, np.asarray(whole)[0], atol=1e-5)
  with pytest.raises(ValueError, match='use 56 or 60'):
    unet.predict_overlap_tile(apply, image, tile=58, depth=2)


def test_sizes_the_unet_cannot_take_are_named():
  with pytest.raises(ValueError, match='cannot take input height 570.*556 and 572'):
    models.summarize(models.create('unet'), (570, 572, 1))
  with pytest.raises(ValueError, match='width divisible by 8; got 30. Nearest sizes: 24 and 32'):
    unet.UNet(widths=(4, 8, 16, 32), padding='SAME').check_size(32, 30)
  with pytest.raises(ValueError, match="'VALID' \\(the paper\\) or 'SAME'"):
    unet.UNet(padding='same').check_size(32, 32)


@pytest.mark.slow
def test_encoder_decoders_shapes_and_the_pretrained_mobilenet_encoder(tmp_path):
  """Shapes from the layer tables (no compile); the ImageNet MobileNetV2 variables drop into
  the U-Net's encoder unchanged and give the headless backbone's stage outputs."""
  from cnn_jax.models import encoder_decoder
  rows = {r.layer: r for r in models.summarize(models.create('vgg16_encoder_decoder',
                                                             num_classes=5), (64, 64, 3))}
  assert rows['head'].shape == (64, 64, 5) and rows['up0'].shape == (4, 4, 512)
  model = models.create('unet_mobilenet_v2', num_classes=3)
  rows = {r.layer: r for r in models.summarize(model, (64, 64, 3))}
  assert rows['head'].shape == (64, 64, 3) and rows['up3'].shape == (32, 32, 16)
  with pytest.raises(ValueError, match='divisible by 32; got 48x64'):
    models.summarize(model, (48, 64, 3))
  from cnn_jax.weights.fetch import load
  backbone = fetched_or_skip(load, 'mobilenet_v2', 'imagenet', include_head=False)
  x = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  variables = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), variables)
  merged = encoder_decoder.with_encoder(variables, backbone)
  first = lambda t: t['features']['0']['0']['kernel']
  np.testing.assert_array_equal(first(merged['params']['encoder']), first(backbone['params']))
  ours = models.features(model, merged, x, ['encoder'])['encoder'][1]['stage2']
  ref = models.create('mobilenet_v2', num_classes=None, conv_impl='xla').apply(
      backbone, x, return_stages=True)[1]['stage2']
  np.testing.assert_allclose(ours, ref, atol=1e-5)
