r"""Selective search (Uijlings et al., IJCV 2013): class-agnostic proposals from a segmentation.

Host-side numpy, one image at a time (a classical algorithm, R-CNN's and Fast R-CNN's proposer):

    boxes, valid = selective_search(image, num_boxes=100)          # [K, 4] xyxy px, [K] bool
    boxes, valid, seconds = propose(images, 100, cfg)              # a batch [B, H, W, C]
    boxes, valid, seconds = cached_propose(images, 100, cfg)       # the same, cached on disk

1. Over-segmentation: `skimage.segmentation.felzenszwalb` (graph-based, Felzenszwalb &
   Huttenlocher 2004) at every scale k of `cfg.scales` gives the initial regions R.
2. Hierarchical grouping, per scale and per similarity strategy: start from R and the set of
   adjacent pairs (4-connected pixels with different labels); repeatedly merge the most
   similar adjacent pair (r_i, r_j) into r_t = r_i U r_j until one region is left. Every region
   ever formed (the initial ones too) is a proposal: its bounding box.
3. Similarity of two regions (all terms in [0, 1]; `im` = image area in pixels):

       s(r_i, r_j) = a_c s_colour + a_t s_texture + a_s s_size + a_f s_fill
       s_colour  = sum_k min(c_i^k, c_j^k)   c: L1-normalised histogram, `colour_bins` per channel
       s_texture = sum_k min(t_i^k, t_j^k)   t: L1-normalised histogram of the 8 half-rectified
                   Gaussian (sigma 1) directional derivatives per channel, `texture_bins` each
       s_size    = 1 - (size(r_i) + size(r_j)) / im         (merge small regions first)
       s_fill    = 1 - (size(BB_ij) - size(r_i) - size(r_j)) / im   (BB_ij: the joint box;
                   prefer pairs that fill their joint box: no holes, no far-apart pieces)

   The merged region's histograms are the size-weighted means,
   c_t = (size(r_i) c_i + size(r_j) c_j) / (size(r_i) + size(r_j)), so nothing is recomputed
   from pixels. Ties go to the pair that became adjacent first (deterministic).
   A strategy is one weight tuple (a_c, a_t, a_s, a_f); `cfg.strategies` lists them (the
   paper's diversification over colour spaces is left out: the canvases are gray).
4. Ranking (the paper's §3.3): in each hierarchy the region formed last (the whole image)
   has position j = 1, the one before it j = 2, ..., the initial regions the largest j; the
   score is j * RND with RND ~ U[0, 1) (seeded: `cfg.seed`), so the hierarchies of all
   scales/strategies interleave with a preference for large regions. Ascending score order,
   exact duplicate boxes and boxes with a side < `cfg.min_side` px dropped.

Fixed size: the first `num_boxes` ranked boxes; an image that yields fewer (a plain image
gives only its own box) is padded with zero boxes and `valid` False in the remaining rows, so
batches have static shapes for jit. Boxes are pixel-edge xyxy: a region whose pixels span
columns x0..x1 has x1' = x1 + 1 (the canvases' convention), always inside [0, W] x [0, H].
"""
import dataclasses
import hashlib
import json
import os
import time

import numpy as np

NUM_ORIENTATIONS = 8


@dataclasses.dataclass(frozen=True)
class SelectiveSearchConfig:
  """scales: felzenszwalb's k per segmentation; sigma, min_size: its smoothing and minimum
  component size; strategies: similarity weights (a_colour, a_texture, a_size, a_fill), one
  hierarchy each per scale; histogram bins; min_side: drop smaller boxes; seed: ranking RND."""
  scales: tuple[float, ...] = (50.0, 100.0, 200.0)
  sigma: float = 0.8
  min_size: int = 10
  strategies: tuple[tuple[float, float, float, float], ...] = ((1, 1, 1, 1), (0, 1, 1, 1))
  colour_bins: int = 25
  texture_bins: int = 10
  min_side: float = 0.0
  seed: int = 0


def region_features(image: np.ndarray, labels: np.ndarray, colour_bins: int = 25,
                    texture_bins: int = 10) -> dict:
  """Per-region statistics of `labels` `[H, W]` (ids 0..R-1) on `image` `[H, W, C]` in [0, 1].

  Returns {'size' [R] pixels, 'box' [R, 4] xyxy pixel edges, 'colour' [R, C * colour_bins],
  'texture' [R, C * 8 * texture_bins]} (histograms L1-normalised per region)."""
  h, w, c = image.shape
  flat = labels.ravel()
  r = int(flat.max()) + 1
  size = np.bincount(flat, minlength=r).astype(np.float64)
  ys, xs = np.divmod(np.arange(h * w), w)
  box = np.zeros((r, 4))
  box[:, 0], box[:, 1] = w, h
  np.minimum.at(box[:, 0], flat, xs)
  np.minimum.at(box[:, 1], flat, ys)
  np.maximum.at(box[:, 2], flat, xs + 1)
  np.maximum.at(box[:, 3], flat, ys + 1)

  def histogram(values, bins):   # values [H*W, F] in [0, 1] -> [R, F * bins], L1 per region
    idx = np.minimum((values * bins).astype(np.int64), bins - 1)
    cols = idx + bins * np.arange(values.shape[1])
    hist = np.zeros((r, values.shape[1] * bins))
    np.add.at(hist, (np.repeat(flat, values.shape[1]), cols.ravel()), 1.0)
    return hist / hist.sum(1, keepdims=True)

  colour = histogram(image.reshape(-1, c), colour_bins)
  from skimage.filters import gaussian
  smooth = gaussian(image, sigma=1.0, channel_axis=-1)
  gy, gx = np.gradient(smooth, axis=(0, 1))
  theta = np.arange(NUM_ORIENTATIONS) * 2 * np.pi / NUM_ORIENTATIONS
  # Half-rectified derivative along each of 8 directions: [H, W, C, 8].
  resp = np.maximum(gx[..., None] * np.cos(theta) + gy[..., None] * np.sin(theta), 0)
  resp = resp / max(resp.max(), 1e-12)
  texture = histogram(resp.reshape(h * w, -1), texture_bins)
  return {'size': size, 'box': box, 'colour': colour, 'texture': texture}


def adjacent_pairs(labels: np.ndarray) -> list[tuple[int, int]]:
  """Sorted (i, j), i < j, of regions sharing a 4-connected pixel edge in `labels` `[H, W]`."""
  a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
  b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
  keep = a != b
  lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
  return sorted(set(zip(lo.tolist(), hi.tolist())))


def similarity(ri: dict, rj: dict, image_area: float, weights) -> float:
  """s(r_i, r_j) of the module docstring; ri, rj: {'size', 'box', 'colour', 'texture'}."""
  a_c, a_t, a_s, a_f = weights
  s = 0.0
  if a_c:
    s += a_c * np.minimum(ri['colour'], rj['colour']).sum()
  if a_t:
    s += a_t * np.minimum(ri['texture'], rj['texture']).sum()
  joint = ri['size'] + rj['size']
  if a_s:
    s += a_s * (1.0 - joint / image_area)
  if a_f:
    bb = (max(ri['box'][2], rj['box'][2]) - min(ri['box'][0], rj['box'][0])) * \
         (max(ri['box'][3], rj['box'][3]) - min(ri['box'][1], rj['box'][1]))
    s += a_f * (1.0 - (bb - joint) / image_area)
  return float(s)


def _merge(ri: dict, rj: dict) -> dict:
  n = ri['size'] + rj['size']
  return {'size': n,
          'box': np.concatenate([np.minimum(ri['box'][:2], rj['box'][:2]),
                                 np.maximum(ri['box'][2:], rj['box'][2:])]),
          'colour': (ri['size'] * ri['colour'] + rj['size'] * rj['colour']) / n,
          'texture': (ri['size'] * ri['texture'] + rj['size'] * rj['texture']) / n}


def hierarchical_grouping(features: dict, pairs, image_area: float, weights) -> np.ndarray:
  """Boxes `[2R - 1, 4]` of every region of the hierarchy in creation order: the R initial
  regions, then each merge (most similar adjacent pair first, module docstring), the last
  row the union of all (when the adjacency graph is connected; otherwise fewer rows)."""
  regions = {i: {k: features[k][i] for k in ('size', 'box', 'colour', 'texture')}
             for i in range(len(features['size']))}
  sims = {p: similarity(regions[p[0]], regions[p[1]], image_area, weights) for p in pairs}
  neighbours = {i: set() for i in regions}
  for i, j in pairs:
    neighbours[i].add(j)
    neighbours[j].add(i)
  out = [features['box']]
  created = []
  nxt = len(regions)
  while sims:
    # max() returns the first maximal key in insertion order: ties -> the oldest pair.
    i, j = max(sims, key=sims.get)
    t = nxt
    nxt += 1
    regions[t] = _merge(regions.pop(i), regions.pop(j))
    created.append(regions[t]['box'])
    around = (neighbours.pop(i) | neighbours.pop(j)) - {i, j}
    for n in around:
      sims.pop((min(i, n), max(i, n)), None)
      sims.pop((min(j, n), max(j, n)), None)
      neighbours[n] -= {i, j}
      neighbours[n].add(t)
      sims[(n, t)] = similarity(regions[n], regions[t], image_area, weights)
    sims.pop((i, j), None)
    neighbours[t] = around
  if created:
    out.append(np.stack(created))
  return np.concatenate(out).astype(np.float32)


def _as_float_image(image: np.ndarray) -> np.ndarray:
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[0] < 2 or image.shape[1] < 2:
    raise ValueError(f'selective search takes one image [H, W, C] (or [H, W]) with H, W >= 2; '
                     f'got shape {image.shape}. Call propose() for a batch.')
  if image.dtype == np.uint8:
    return image.astype(np.float64) / 255
  return np.clip(image.astype(np.float64), 0, 1)


def selective_search(image: np.ndarray, num_boxes: int,
                     cfg: SelectiveSearchConfig = SelectiveSearchConfig()):
  """The `num_boxes` best-ranked proposals of one image (module docstring).

  Args:
    image: `[H, W, C]` or `[H, W]`, uint8 or float in [0, 1].
    num_boxes: K, the fixed number of rows returned.
  Returns:
    boxes `[K, 4]` float32 xyxy pixel edges, valid `[K]` bool (False: padding, zero box).
  """
  if num_boxes < 1:
    raise ValueError(f'num_boxes={num_boxes}: ask for at least one proposal.')
  from skimage.segmentation import felzenszwalb
  img = _as_float_image(image)
  h, w = img.shape[:2]
  rng = np.random.default_rng(cfg.seed)
  boxes, scores = [], []
  for k in cfg.scales:
    seg = felzenszwalb(img, scale=k, sigma=cfg.sigma, min_size=cfg.min_size, channel_axis=-1)
    # Relabel to 0..R-1 (felzenszwalb's ids are already dense; unique makes sure).
    _, labels = np.unique(seg, return_inverse=True)
    labels = labels.reshape(h, w)
    feats = region_features(img, labels, cfg.colour_bins, cfg.texture_bins)
    pairs = adjacent_pairs(labels)
    for weights in cfg.strategies:
      hier = hierarchical_grouping(feats, pairs, float(h * w), weights)
      position = np.arange(len(hier), 0, -1)      # last formed (top) = 1
      boxes.append(hier)
      scores.append(position * rng.random(len(hier)))
  boxes, scores = np.concatenate(boxes), np.concatenate(scores)
  boxes = boxes[np.argsort(scores, kind='stable')]
  side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
  boxes = boxes[side >= cfg.min_side]
  _, first = np.unique(boxes, axis=0, return_index=True)
  boxes = boxes[np.sort(first)]                   # duplicates: keep the best-ranked copy
  out = np.zeros((num_boxes, 4), np.float32)
  valid = np.zeros(num_boxes, bool)
  n = min(num_boxes, len(boxes))
  out[:n], valid[:n] = boxes[:n], True
  return out, valid


def propose(images: np.ndarray, num_boxes: int,
            cfg: SelectiveSearchConfig = SelectiveSearchConfig(), progress: bool = False):
  """`selective_search` on each image of `[B, H, W, C]`: boxes `[B, K, 4]`, valid `[B, K]`,
  and the wall-clock seconds it took (host, one core)."""
  if images.ndim != 4:
    raise ValueError(f'propose takes a batch [B, H, W, C]; got shape {images.shape}.')
  start = time.perf_counter()
  boxes = np.zeros((len(images), num_boxes, 4), np.float32)
  valid = np.zeros((len(images), num_boxes), bool)
  it = range(len(images))
  if progress:
    from tqdm import tqdm
    it = tqdm(it, desc='selective search', unit='img')
  for b in it:
    boxes[b], valid[b] = selective_search(images[b], num_boxes, cfg)
  return boxes, valid, time.perf_counter() - start


def cached_propose(images: np.ndarray, num_boxes: int,
                   cfg: SelectiveSearchConfig = SelectiveSearchConfig(), cache: str | None = None,
                   progress: bool = False):
  """`propose`, cached as `<cache>/selective_search/<sha1>.npz` (<cache>: $CNN_JAX_CACHE or
  ~/.cache/cnn_jax), the key hashing the image bytes, K and `cfg`. Returns (boxes, valid,
  seconds) where seconds is the time of the computation that filled the cache."""
  import pathlib
  digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
  # Numbers as floats: (1, 1, 1, 1) from code and [1.0, ...] from a config hash alike.
  fields = {k: np.asarray(v, np.float64).tolist() for k, v in dataclasses.asdict(cfg).items()}
  digest.update(json.dumps([list(images.shape), str(images.dtype), int(num_boxes), fields],
                           sort_keys=True).encode())
  if cache:
    folder = pathlib.Path(cache)
  else:   # imported here: weights/ pulls in flax, which a cache hit or a given folder never needs
    from cnn_jax.weights.fetch import cache_dir
    folder = cache_dir() / 'selective_search'
  path = folder / f'{digest.hexdigest()}.npz'
  if path.exists():
    with np.load(path) as f:
      return f['boxes'], f['valid'], float(f['seconds'])
  boxes, valid, seconds = propose(images, num_boxes, cfg, progress)
  folder.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f'.{os.getpid()}.tmp.npz')   # two processes filling the same entry
  np.savez(tmp, boxes=boxes, valid=valid, seconds=seconds)
  tmp.replace(path)   # atomic: a concurrent reader never sees half a file
  return boxes, valid, seconds
