"""Attribution and receptive fields: Grad-CAM at an intermediate (interceptor) = the same
quantity from the network split by hand, = pytorch-grad-cam on real MobileNetV2 weights
(fixture); integrated-gradients completeness within 1%; occlusion in batches = one image at a
time; guided backprop = the guided rule applied by hand; streaming top-k = numpy's global top-k; receptive fields = gradient support; a
randomised network's saliency differs from the trained one's."""
import functools
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.models import attribution, receptive_field as rf
from cnn_jax.nn.sequential import IndexedSequential
from conftest import fetched_or_skip

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'


class Tiny(nn.Module):
  """conv-relu, conv-relu ('body/2' is the CAM layer), global mean, dense: [N, 12, 12, 3] -> [N, 4]."""

  @nn.compact
  def __call__(self, x, train=False):
    conv = lambda c: functools.partial(nn.Conv, c, (3, 3), padding=1)
    x = IndexedSequential((conv(6), nn.tanh, conv(5)), name='body')(x)
    x = nn.softplus(x)
    return nn.Dense(4, name='head')(x.mean((1, 2)))


@pytest.fixture(scope='module')
def tiny():
  model = Tiny()
  x = jax.random.uniform(jax.random.key(0), (2, 12, 12, 3))
  return model, model.init(jax.random.key(1), x), x


def test_grad_cam_equals_split_network(tiny):
  model, v, x = tiny
  score = lambda logits: logits[:, 2]
  cam = attribution.grad_cam(model, v, x, 'body/2', score)
  # Independent: run the network in two halves and differentiate the second half.
  body = IndexedSequential((functools.partial(nn.Conv, 6, (3, 3), padding=1), nn.tanh,
                            functools.partial(nn.Conv, 5, (3, 3), padding=1)))
  a = body.apply({'params': v['params']['body']}, x)
  tail = lambda a: nn.Dense(4).apply({'params': v['params']['head']}, nn.softplus(a).mean((1, 2)))[:, 2].sum()
  g = jax.grad(tail)(a)
  want = jax.nn.relu((g.mean((1, 2), keepdims=True) * a).sum(-1))
  np.testing.assert_allclose(cam, want, rtol=1e-5, atol=1e-7)
  with pytest.raises(KeyError, match="No layer named 'body/9'"):
    attribution.grad_cam(model, v, x, 'body/9', score)


def test_integrated_gradients_completeness_and_occlusion_batches(tiny):
  model, v, x = tiny
  cls = jnp.array([1, 3])  # a class per image: the score must see each copy's own batch
  score = lambda logits: jnp.take_along_axis(logits, cls[:, None], 1)[:, 0]
  ig = attribution.integrated_gradients(model, v, x, score, steps=64)
  f = lambda x: score(model.apply(v, x))
  gap = ig.sum((1, 2, 3)) - (f(x) - f(jnp.zeros_like(x)))
  assert np.all(np.abs(gap) <= 0.01 * np.abs(f(x) - f(jnp.zeros_like(x))))
  chunked = attribution.integrated_gradients(model, v, x, score, steps=64, chunk=32)  # 2 passes
  np.testing.assert_allclose(chunked, ig, rtol=1e-4, atol=1e-6)
  smooth = attribution.smooth_grad(model, v, x, score, jax.random.key(0), samples=3, sigma=0.0)
  np.testing.assert_allclose(smooth, attribution.input_gradient(model, v, x, score), rtol=1e-5,
                             atol=1e-7)
  score = lambda logits: logits[:, 1]
  f = lambda x: score(model.apply(v, x))
  occ = attribution.occlusion(model, v, x[0], score, patch=4, stride=4, batch=4)  # 3x3, padded
  one = lambda y, xx: f(x[:1].at[:, y:y + 4, xx:xx + 4].set(0.0))[0]
  want = np.array([[f(x[:1])[0] - one(y, xx) for xx in (0, 4, 8)] for y in (0, 4, 8)])
  np.testing.assert_allclose(occ, want, rtol=1e-5, atol=1e-6)


class ReluMLP(nn.Module):
  """dense-relu, dense-relu6 (x10: some units saturate), dense: [N, 6] -> [N, 2]."""

  @nn.compact
  def __call__(self, x, train=False):
    h = nn.relu(nn.Dense(5, name='a')(x))
    h = jax.nn.relu6(10 * nn.Dense(4, name='b')(h))
    return nn.Dense(2, name='c')(h)


def test_guided_backprop_equals_the_rule_by_hand():
  """Backward by hand: at each ReLU g_in = g_out [a > 0] [g_out > 0]; relu6's upper clip
  passes g_out [a < 6] (its ordinary rule)."""
  model = ReluMLP()
  x = jax.random.normal(jax.random.key(0), (3, 6))
  v = model.init(jax.random.key(1), x)
  g = attribution.guided_backprop(model, v, x, lambda o: o[:, 0])
  p = jax.tree.map(np.asarray, v['params'])
  z1 = np.asarray(x) @ p['a']['kernel'] + p['a']['bias']
  z2 = 10 * (np.maximum(z1, 0) @ p['b']['kernel'] + p['b']['bias'])
  g2 = np.broadcast_to(p['c']['kernel'][:, 0], z2.shape) * (z2 < 6)
  g1 = (10 * g2 * (z2 > 0) * (g2 > 0)) @ p['b']['kernel'].T
  ref = (g1 * (z1 > 0) * (g1 > 0)) @ p['a']['kernel'].T
  assert (z2 > 6).any() and ((z1 > 0) & (g1 < 0)).any()  # both rules are exercised
  np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6)
  vanilla = attribution.input_gradient(model, v, x, lambda o: o[:, 0])
  assert not np.allclose(g, vanilla)


def test_streaming_top_k_equals_global_top_k():
  acts = np.random.default_rng(0).normal(size=(7, 3, 4, 2)).astype(np.float32)
  top = rf.TopK.init(5, 2)
  for s in range(0, 7, 3):
    top = top.update(jnp.asarray(acts[s:s + 3]), jnp.arange(s, min(s + 3, 7)))
  for c in range(2):
    flat = acts[..., c].ravel()
    order = np.argsort(-flat)[:5]
    np.testing.assert_allclose(top.values[c], flat[order])
    np.testing.assert_array_equal(top.where[c], np.stack(np.unravel_index(order, (7, 3, 4)), -1))
  # One position per image: the k images with the best maxima, each at its argmax.
  top = rf.TopK.init(4, 2, one_per_image=True)
  for s in range(0, 7, 3):
    top = top.update(jnp.asarray(acts[s:s + 3]), jnp.arange(s, min(s + 3, 7)))
  for c in range(2):
    best = acts[..., c].reshape(7, -1).max(1)
    images = np.argsort(-best)[:4]
    np.testing.assert_allclose(top.values[c], best[images])
    for (n, i, j), m in zip(top.where[c], images):
      assert n == m and acts[n, i, j, c] == best[m]


def test_receptive_field_equals_gradient_support():
  """Each (k, s, p) layer as a lax convolution with an all-ones kernel (linear, positive: no
  max-pool argmax or ReLU hides a pixel): the input pixels a unit depends on are exactly its
  receptive-field box from the layer arithmetic (clipped to the image)."""
  def chain(layers, x):
    for k, s, p in layers:
      x = jax.lax.conv_general_dilated(x, jnp.ones((k, k, 1, 1)), (s, s), [(p, p), (p, p)],
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return x
  resnet_like = [(7, 2, 3), (3, 2, 1), (3, 1, 1), (5, 1, 2), (2, 2, 0)]
  for layers, (i, j) in ((rf.vgg_layers(19, 'conv3_1'), (3, 5)), (rf.vgg_layers(19, 'conv3_1'), (0, 15)),
                         (resnet_like, (1, 2)), (rf.mobilenet_v2_layers('features/4'), (2, 3))):
    x = jnp.ones((1, 64, 64, 1))
    g = jax.grad(lambda x: chain(layers, x)[0, i, j, 0])(x)
    ys, xs = np.nonzero(np.asarray(g[0, ..., 0]))
    y0, x0, y1, x1 = rf.chain_receptive_field(layers).box(i, j)
    assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == (
        max(y0, 0), max(x0, 0), min(y1, 64), min(x1, 64)), (layers, i, j)
  # By hand: 3x3/1 convs add 2 * jump, 2x2/2 pools add 1 * jump then double it and shift the
  # centre by jump / 2: conv5_1 sees 1+2+2+1+4+4+2+8*4+4+16*4+8+32 = 156 px, jump 16, 7.5.
  assert rf.chain_receptive_field(rf.vgg_layers(19, 'conv5_1')) == rf.RF(16, 156, 7.5)
  with pytest.raises(ValueError, match='conv1_1'):
    rf.vgg_layers(19, 'relu4_2')
  # MobileNetV2 features/2: stem 3x3/2 (3 px, jump 2), depthwise 3x3/1 (+2 * 2), 3x3/2 (+2 * 2).
  assert rf.chain_receptive_field(rf.mobilenet_v2_layers('features/2')) == rf.RF(4, 11, 0.0)
  with pytest.raises(ValueError, match='features/0 ... features/18'):
    rf.mobilenet_v2_layers('features.3')


@pytest.mark.slow
def test_grad_cam_equals_pytorch_grad_cam_and_sanity_check():
  from cnn_jax import weights
  from cnn_jax.weights import imagenet
  ref = np.load(FIXTURES / 'gradcam_mobilenet_v2.npz')
  crops = np.load(FIXTURES / 'torchvision_imagenet.npz')['crops'][ref['crop_index']]
  v = fetched_or_skip(weights.load, 'mobilenet_v2', 'imagenet')
  model = models.create('mobilenet_v2')
  x = imagenet.normalize(jnp.asarray(crops))
  target = jnp.asarray(ref['target'])
  score = lambda logits: jnp.take_along_axis(logits, target[:, None], 1)[:, 0]
  cam = jax.jit(lambda v, x: attribution.grad_cam(model, v, x, 'features/18', score))(v, x)
  np.testing.assert_allclose(cam, ref['raw'], rtol=2e-3, atol=2e-3 * float(ref['raw'].max()))
  scaled = attribution.upsample_cam(cam, (224, 224))[:, ::8, ::8]
  np.testing.assert_allclose(scaled, ref['scaled_s8'], atol=1e-2)
  # Model randomisation (Adebayo et al. 2018): saliency of a random network is unrelated.
  from cnn_jax.tasks.what_convnets_learn import spearman
  sal = attribution.saliency(model, v, x[:1], score)
  sal_random = attribution.saliency(model, model.init(jax.random.key(3), x[:1]), x[:1], score)
  assert abs(spearman(np.asarray(sal), np.asarray(sal_random))) < 0.3


@pytest.mark.slow  # compiles a (thin) VGG-19
def test_top_patches_are_the_receptive_fields_of_the_best_units():
  from cnn_jax.tasks.what_convnets_learn import top_patches, vgg_stages
  model = models.create('vgg19', num_classes=None, hidden=None, width_multiplier=0.0625)
  photos = np.asarray(jax.random.uniform(jax.random.key(0), (3, 32, 32, 3)))
  v = model.init(jax.random.key(1), jnp.asarray(photos[:1]))
  out = top_patches(vgg_stages(model, lambda x: x), v, photos, ['conv2_1'],
                    lambda layer: rf.vgg_layers(19, layer), per_layer=2, k=3, batch=2)
  channels, values, patches, field = out['conv2_1']
  acts = np.asarray(model.apply(v, jnp.asarray(photos), return_stages=True)[1]['conv2_1'])
  assert field == rf.RF(2, 10, 0.5)
  for u, c in enumerate(channels):
    n, i, j = np.unravel_index(np.argmax(acts[..., c]), acts.shape[:3])
    np.testing.assert_allclose(values[u, 0], acts[n, i, j, c], rtol=1e-6)
    np.testing.assert_array_equal(patches[u, 0], rf.crop_patch(photos[n], field.box(i, j)))
