"""Flattening a feature map in PyTorch's order, so converted Linear weights need no shuffle."""
import jax
import jax.numpy as jnp


def flatten_channels_first(x: jax.Array) -> jax.Array:
  """`[N, H, W, C] -> [N, C*H*W]` in PyTorch's (C, H, W) order.

  A torchvision Linear after `torch.flatten(x, 1)` on NCHW then maps onto the Dense kernel
  that follows by a plain transpose: kernel = weight.T. (A plain NHWC reshape would need the
  rows of every such kernel permuted.)
  """
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
