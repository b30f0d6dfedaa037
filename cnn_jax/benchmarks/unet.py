"""U-Net train step side by side with PyTorch eager: the SAME U-Net at 128x128 and 256x256.

    python launch.py --config experiments/bench_unet.py

Workloads (`_unet_reference.workloads`): `models.unet.UNet(padding='SAME', batch_norm=True,
widths=(16, 32, 64, 128))`, 1 input channel, 2 classes; one jitted train step = forward in
train mode (batch statistics updated), `losses.segmentation.pixel_cross_entropy`, backward,
Adam update, on a resident seeded batch (128px batch 8, 256px batch 4). The step returns its
new parameters, statistics, optimizer state and loss (nothing dead-code eliminated).
PyTorch's time for the same network, loss and optimizer comes from
`benchmarks/torch_results/unet.json` (`_unet_reference.py`, impl 'torch'), joined when it
was taken on this CPU. Throughput: img/s = batch / median step (the items/s column).

Config keys (besides those of `tasks.benchmark`): smoke (one tiny case), impls (the U-Net's
conv_impl values to time, e.g. ('xla', 'auto')).
"""
import jax
import jax.numpy as jnp
import optax

from cnn_jax import bench
from cnn_jax.benchmarks import _unet_reference as ref
from cnn_jax.losses.segmentation import pixel_cross_entropy
from cnn_jax.models.unet import UNet

BASELINE = 'xla'
COMPARE = 'torch'


def _case(w: dict, impl: str) -> bench.Case:
  model = UNet(num_classes=ref.CLASSES, widths=tuple(w['widths']), padding='SAME',
               batch_norm=True, conv_impl=impl)
  tx = optax.adam(1e-3)

  def step(params, state, opt, images, labels):
    def loss_fn(p):
      logits, new = model.apply({'params': p, **state}, images, train=True, mutable=['batch_stats'])
      return pixel_cross_entropy(logits, labels), new
    (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), new, opt, loss

  def args():
    images, labels = ref.batch(w)
    variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, *images.shape[1:]))))(
        jax.random.key(0))
    params = variables.pop('params')
    return params, variables, tx.init(params), jnp.asarray(images), jnp.asarray(labels)

  info = dict(image=[w['size'], w['size'], ref.CHANNELS], batch=w['batch'],
              widths=list(w['widths']), conv_impl=impl, items=w['batch'])
  return bench.Case(ref.name(w), impl, step, args, info=info)


def cases(config) -> list[bench.Case]:
  """One case per (workload, conv impl in config.impls)."""
  return [_case(w, impl) for w in ref.workloads(config.smoke) for impl in config.impls]
