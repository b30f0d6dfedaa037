"""ops.augment: known pixel and box motions, PCA statistics, ranges, keys, vmap, the spec
grammar, and the gallery / benchmark configs.

Images are small (8x8 to 16x16) so each jitted op compiles in well under a second.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.ops import augment
from cnn_jax.ops import augment_color as color_ops
from cnn_jax.ops import augment_geometric as geo
from cnn_jax.ops import augment_warp as warp

KEY = jax.random.key(0)


def ramp(h=8, w=8, c=2) -> jnp.ndarray:
  """Distinct values in [0, 1): pixel (i, j, k) = (i W C + j C + k) / (H W C)."""
  return jnp.arange(h * w * c, dtype=jnp.float32).reshape(h, w, c) / (h * w * c)


def box_mask(box, h, w) -> np.ndarray:
  """Pixels whose centres lie inside the xyxy box."""
  ys, xs = np.mgrid[0:h, 0:w] + 0.5
  return (xs > box[0]) & (xs < box[2]) & (ys > box[1]) & (ys < box[3])


def mask_box(mask) -> list[float]:
  """The xyxy box (pixel edges) enclosing a boolean mask."""
  ys, xs = np.nonzero(mask)
  return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


# ---------------------------------------------------------------- geometric: known motions

def test_flips_move_pixels_and_boxes():
  x, boxes = ramp(), jnp.array([[1.0, 2.0, 3.0, 5.0]])
  out, b = geo.flip_lr(KEY, x, boxes, p=1.0)
  np.testing.assert_array_equal(out, x[:, ::-1])
  np.testing.assert_array_equal(b, [[5.0, 2.0, 7.0, 5.0]])   # x -> 8 - x
  out, b = geo.flip_ud(KEY, x, boxes, p=1.0)
  np.testing.assert_array_equal(out, x[::-1])
  np.testing.assert_array_equal(b, [[1.0, 3.0, 3.0, 6.0]])   # y -> 8 - y
  out, b = geo.flip_lr(KEY, x, boxes, p=0.0)
  np.testing.assert_array_equal(out, x)
  np.testing.assert_array_equal(b, boxes)


@pytest.mark.parametrize('degrees,k', [(90, 1), (-90, -1), (180, 2)])
def test_rotation_by_right_angles_is_rot90_and_boxes_follow(degrees, k):
  """Counter-clockwise as displayed: 90 degrees is np.rot90 exactly, pixels and boxes."""
  x, box = ramp(), [1.0, 2.0, 3.0, 5.0]
  out, b = jax.jit(lambda key, x, b: geo.rotate(key, x, b, degrees=(degrees, degrees)))(
      KEY, x, jnp.array([box]))
  np.testing.assert_allclose(out, np.rot90(np.asarray(x), k), atol=1e-5)
  np.testing.assert_allclose(b[0], mask_box(np.rot90(box_mask(box, 8, 8), k)), atol=1e-4)
  if degrees == 90:  # (x, y) -> (y, 8 - x) about the centre (4, 4)
    np.testing.assert_allclose(b[0], [2.0, 5.0, 5.0, 7.0], atol=1e-4)


def test_rotation_by_45_degrees_moves_a_pixel_along_the_circle():
  """A pixel 4 px right of the centre of a 16x16 image goes 4 px along the circle, up-right
  (centre (8, 8); (12.5, 8.5) -> (8 + 4.5 c, 8 - 4.5 s) with c = s = cos 45 ~ 0.707 and the
  y offset 0.5 rotated too): its mass ends near (11.5, 4.5) and the total is preserved by
  bilinear sampling up to edge effects."""
  x = jnp.zeros((16, 16, 1)).at[8, 12, 0].set(1.0)
  out = np.asarray(geo.rotate(KEY, x, degrees=(45, 45))[0])[..., 0]
  ys, xs = np.mgrid[0:16, 0:16] + 0.5
  cx, cy = (out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()
  c = np.cos(np.pi / 4)
  np.testing.assert_allclose([cx, cy], [8 + 4.5 * c + 0.5 * c, 8 - 4.5 * c + 0.5 * c], atol=0.3)


def test_shear_moves_a_pixel_by_tan_times_its_height():
  """x-shear of 45 degrees: x' = x + (y - 8); the pixel centred at (6.5, 4.5) lands at
  x = 3.0, between columns 2 and 3, half in each."""
  x = jnp.zeros((16, 16, 1)).at[4, 6, 0].set(1.0)
  out, b = geo.shear(KEY, x, jnp.array([[4.0, 4.0, 6.0, 6.0]]), x=(45, 45), y=(0, 0))
  np.testing.assert_allclose(out[4, 2:4, 0], [0.5, 0.5], atol=1e-5)
  assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
  np.testing.assert_allclose(b, [[0.0, 4.0, 4.0, 6.0]], atol=1e-5)  # corners y=4: -4, y=6: -2


def test_pad_crop_shifts_pixels_and_boxes_by_the_same_offset():
  x = ramp(8, 8, 1)
  boxes = jnp.array([[2.0, 2.0, 5.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
  keys = jax.random.split(KEY, 16)
  outs, bs = jax.vmap(lambda k: geo.pad_crop(k, x, boxes, pad=2))(keys)
  seen = set()
  for out, b in zip(np.asarray(outs), np.asarray(bs)):
    # The input pixel (r, c) found at output (4, 4) gives the shift.
    r, c = np.argwhere(np.isclose(np.asarray(x)[..., 0], out[4, 4, 0]))[0]
    dy, dx = 4 - r, 4 - c
    assert abs(dx) <= 2 and abs(dy) <= 2
    seen.add((dx, dy))
    np.testing.assert_allclose(np.roll(np.asarray(x), (dy, dx), (0, 1))[2:6, 2:6], out[2:6, 2:6])
    expected = np.clip(np.asarray(boxes) + [dx, dy, dx, dy], 0, 8)
    np.testing.assert_allclose(b, expected)
  assert len(seen) > 4  # the offsets vary with the key


def test_random_resized_crop_of_the_whole_image_is_identity_and_boxes_scale():
  x, boxes = ramp(16, 16, 3), jnp.array([[2.0, 3.0, 10.0, 12.0]])
  out, b = geo.random_resized_crop(KEY, x, boxes, scale=(1.0, 1.0), ratio=(1.0, 1.0))
  np.testing.assert_allclose(out, x, atol=1e-5)
  np.testing.assert_allclose(b, boxes, atol=1e-5)
  # A quarter-area square window, upsampled 2x: boxes map by (b - origin) * 2.
  top, left, h, w = np.asarray(geo._crop_window(KEY, 16, 16, (0.25, 0.25), (1.0, 1.0)))
  assert (h, w) == (8.0, 8.0)
  crop_box = jnp.array([[left, top, left + 8, top + 8], [left + 2, top + 1, left + 4, top + 3]])
  out, b = geo.random_resized_crop(KEY, x, crop_box, scale=(0.25, 0.25), ratio=(1.0, 1.0))
  np.testing.assert_allclose(b, [[0, 0, 16, 16], [4, 2, 8, 6]], atol=1e-4)
  lo, hi = np.asarray(x)[int(top):int(top) + 8, int(left):int(left) + 8].min(), \
      np.asarray(x)[int(top):int(top) + 8, int(left):int(left) + 8].max()
  assert lo - 1e-5 <= float(out.min()) and float(out.max()) <= hi + 1e-5


def test_boxes_pushed_out_of_the_frame_end_with_zero_area():
  out, b = geo.flip_lr(KEY, ramp(), jnp.array([[0.0, 0.0, 2.0, 2.0]]), p=1.0)
  _, b = geo.affine(KEY, out, b, translate=0.0, degrees=(0, 0), scale=(1, 1))
  _, moved = geo.warp_affine(ramp(), warp.affine_matrix(8, 8, translate_x=20.0), b)
  assert float((moved[:, 2] - moved[:, 0]).min()) == 0.0


def test_elastic_with_zero_alpha_is_identity_and_otherwise_warps_locally():
  x, boxes = ramp(16, 16, 1), jnp.array([[3.0, 3.0, 9.0, 12.0]])
  out, b = geo.elastic(KEY, x, boxes, alpha=0.0)
  np.testing.assert_allclose(out, x, atol=1e-6)
  np.testing.assert_allclose(b, boxes, atol=1e-5)
  out, b = geo.elastic(KEY, x, boxes, alpha=34.0, sigma=4.0)
  shift = np.abs(np.asarray(out) - np.asarray(x)).max()
  assert 0 < shift < 0.5                  # moved, but locally (values from nearby pixels)
  assert np.abs(np.asarray(b) - np.asarray(boxes)).max() < 4.0


@pytest.mark.parametrize('mode', ['constant', 'reflect', 'nearest'])
def test_composed_warps_equal_warps_run_in_sequence(mode):
  """The composer resamples consecutive warps once; with exact (pixel-centre) motions the
  result equals running them one after the other, fills and boundary modes included:
  pad_crop as a warp == the slicing pad_crop; rotate 90 then -90 on a 8x12 image cuts the
  strips the first rotation pushed out (and the second one's rule fills them)."""
  x = ramp(8, 12, 2)
  boxes = jnp.array([[1.0, 2.0, 5.0, 7.0]])
  spec = f'pad_crop(pad=3, mode={mode!r})'
  k_op = jax.random.split(jax.random.split(KEY, 1)[0])[1]  # the composer's key for step 0
  np.testing.assert_allclose(augment.make_augment(spec)(KEY, x, boxes)[0],
                             geo.pad_crop(k_op, x, boxes, pad=3, mode=mode)[0], atol=1e-6)
  spec = f'rotate(degrees=(90, 90))|rotate(degrees=(-90, -90), mode={mode!r}, fill=0.5)'
  composed, b = augment.make_augment(spec)(KEY, x, boxes)
  once, b1 = geo.rotate(KEY, x, boxes, degrees=(90, 90))
  twice, b2 = geo.rotate(KEY, once, b1, degrees=(-90, -90), mode=mode, fill=0.5)
  np.testing.assert_allclose(composed, twice, atol=1e-5)
  np.testing.assert_allclose(b, b2, atol=1e-4)
  if mode == 'constant':
    np.testing.assert_allclose(composed[:, 2:10], x[:, 2:10], atol=1e-5)   # the kept square
    np.testing.assert_allclose(composed[:, :2], 0.5)   # the second warp's fill


# ---------------------------------------------------------------- photometric

def test_color_jitter_factors_and_gray_invariance():
  gray = jnp.full((4, 4, 3), 0.4)
  np.testing.assert_allclose(color_ops.color(KEY, gray, 0, 0, saturation=0.9, hue=0.5), gray,
                             atol=1e-4)  # luma weights sum to 0.9999, as torchvision's
  x = 0.2 + 0.5 * ramp(4, 4, 3)
  out = color_ops.color(KEY, x, brightness=0.3, contrast=0, saturation=0)
  ratio = np.asarray(out) / np.asarray(x)
  assert np.ptp(ratio) < 1e-5 and 0.7 <= ratio.mean() <= 1.3  # one factor for the image
  np.testing.assert_array_equal(color_ops.color(KEY, x, 0, 0, 0, 0), x)  # all amounts zero
  np.testing.assert_allclose(color_ops.hue_matrix(1.0), np.eye(3), atol=1e-5)
  shifted = color_ops.color_shift(KEY, x, delta=0.1) - x
  assert np.ptp(np.asarray(shifted).reshape(-1, 3), axis=0).max() < 1e-6
  assert np.abs(np.asarray(shifted)).max() <= 0.1


def test_pca_lighting_shifts_along_principal_components_and_keeps_the_mean():
  """AlexNet: delta = P (alpha * lambda), alpha ~ N(0, 0.1^2), same for every pixel."""
  x = jnp.full((2, 2, 3), 0.5)
  keys = jax.random.split(KEY, 4000)
  out = jax.vmap(lambda k: color_ops.pca_lighting(k, x, std=0.1))(keys)
  delta = np.asarray(out - x)
  assert np.abs(delta - delta[:, :1, :1]).max() < 1e-6     # one shift per image
  delta = delta[:, 0, 0]
  vecs, vals = np.asarray(color_ops.IMAGENET_EIGVEC), np.asarray(color_ops.IMAGENET_EIGVAL)
  alpha = delta @ vecs / vals                                # back to the coefficients
  assert np.abs(alpha.mean(0)).max() < 4 * 0.1 / np.sqrt(4000)   # mean preserved
  np.testing.assert_allclose(alpha.std(0), 0.1, rtol=0.06)
  assert np.abs(np.corrcoef(alpha.T) - np.eye(3)).max() < 0.06
  # Dataset PCA: eigen-decomposition of the pixel covariance, largest first.
  rng = np.random.default_rng(0)
  mix = np.array([[0.2, 0.1, 0.0], [0.1, 0.15, 0.05], [0.0, 0.05, 0.1]])
  pixels = 0.5 + rng.normal(size=(20000, 3)) @ mix
  vals, vecs = color_ops.pca_from_images(pixels.reshape(100, 200, 3))
  np.testing.assert_allclose(np.asarray(vecs) @ np.diag(vals) @ np.asarray(vecs).T,
                             np.cov(pixels.T, bias=True), atol=1e-5)
  assert vals[0] >= vals[1] >= vals[2] > 0
  out = color_ops.pca_lighting(KEY, x, eigvals=vals, eigvecs=vecs)
  assert out.shape == x.shape
  with pytest.raises(ValueError, match='pca_from_images'):
    color_ops.pca_lighting(KEY, jnp.zeros((2, 2, 1)))


# ---------------------------------------------------------------- every op: range, keys, vmap

# A warp run, ops around it, colour (elastic and random_resized_crop: per-op tests below;
# each costs several seconds of XLA compile on 2 cores).
BATCH_SPEC = 'flip_lr|pad_crop(pad=2)|rotate(degrees=40)|color(hue=0.2)|pca_lighting(std=1.0)'


@pytest.mark.parametrize('spec', augment.OPS)
def test_every_op_keeps_range_and_is_deterministic(spec):
  x = jax.random.uniform(jax.random.key(3), (12, 12, 3))
  boxes = jnp.array([[1.0, 2.0, 7.0, 9.0]])
  fn = jax.jit(augment.make_augment(spec))
  (a, ba), (b, bb), (c, _) = fn(KEY, x, boxes), fn(KEY, x, boxes), fn(jax.random.key(9), x, boxes)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(ba, bb)
  assert a.shape == x.shape and a.dtype == x.dtype
  assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
  assert 0.0 <= float(ba.min()) and float(ba.max()) <= 12.0
  assert not np.array_equal(a, c) or spec in ('flip_lr', 'flip_ud')  # a coin may agree


def test_batch_augment_is_vmap_of_the_single_image_function():
  images = jax.random.uniform(jax.random.key(1), (4, 16, 16, 3))
  boxes = jnp.tile(jnp.array([[[1.0, 2.0, 7.0, 9.0], [0.0, 0.0, 3.0, 3.0]]]), (4, 1, 1))
  batch_fn = jax.jit(augment.make_batch_augment(BATCH_SPEC))
  out, out_boxes = batch_fn(KEY, images, boxes)
  single = jax.jit(augment.make_augment(BATCH_SPEC))
  for i, k in enumerate(jax.random.split(KEY, 4)):
    x, b = single(k, images[i], boxes[i])
    np.testing.assert_allclose(out[i], x, atol=1e-5)
    np.testing.assert_allclose(out_boxes[i], b, atol=1e-4)
  assert out.shape == images.shape and out_boxes.shape == boxes.shape
  assert not np.allclose(out[0], out[1])  # one key per image
  np.testing.assert_array_equal(augment.make_batch_augment('none')(KEY, images), images)


# ---------------------------------------------------------------- spec grammar

def test_spec_grammar_and_errors():
  assert augment.parse_spec('') == [] and augment.parse_spec(' none ') == []
  assert augment.parse_spec("flip_lr | pad_crop(pad=4, mode='reflect')|random_resized_crop("
                            "scale=(0.5, 1.0), ratio=[0.75, 1.33])|rotate(degrees=10, p=0.5)") == [
      ('flip_lr', {}), ('pad_crop', {'pad': 4, 'mode': 'reflect'}),
      ('random_resized_crop', {'scale': (0.5, 1.0), 'ratio': (0.75, 1.33)}),
      ('rotate', {'degrees': 10, 'p': 0.5})]
  with pytest.raises(ValueError, match=r"Unknown augmentation 'flip'.*'flip_lr'"):
    augment.make_augment('flip')
  with pytest.raises(ValueError, match=r"no argument\(s\) \['deg'\]; it takes \['degrees'"):
    augment.make_augment('rotate(deg=3)')
  with pytest.raises(ValueError, match='keyword arguments only'):
    augment.make_augment('rotate(3)')
  with pytest.raises(ValueError, match='literals'):
    augment.make_augment('rotate(degrees=os.system)')
  with pytest.raises(ValueError, match='p must be in'):
    augment.make_augment('rotate(p=2)')
  with pytest.raises(ValueError, match='mode'):
    augment.make_augment('pad_crop(mode="wrap")')(KEY, ramp())


def test_generic_probability_applies_a_step_to_about_p_of_the_images():
  images = jnp.tile(ramp(8, 8, 1)[None], (400, 1, 1, 1))
  out = jax.jit(augment.make_batch_augment('color_shift(delta=0.5, p=0.25)'))(KEY, images)
  changed = np.abs(np.asarray(out - images)).reshape(400, -1).max(1) > 0
  assert 0.18 < changed.mean() < 0.32


# ---------------------------------------------------------------- configs

def test_gallery_smoke_draws_every_row(tmp_path):
  from conftest import load_config
  from cnn_jax.tasks import augment_gallery
  result = augment_gallery.run(load_config('augment_gallery'), str(tmp_path))
  assert (tmp_path / 'augment_gallery.png').stat().st_size > 20_000
  assert len(result['boxes']) >= 1  # the detected face
  rows = {r['spec']: r for r in result['rows']}
  assert len(rows) == 2
  assert all(0.0 <= r['min'] and r['max'] <= 1.0 for r in rows.values())
  # rotate 90: the face box (x1, y1, x2, y2) -> (y1, W - x2, y2, W - x1) on the square photo.
  w = result['shape'][1]
  x1, y1, x2, y2 = result['boxes'][0]
  np.testing.assert_allclose(rows['rotate(degrees=(90, 90))']['boxes'][0][0],
                             [y1, w - x2, y2, w - x1], atol=0.2)


@pytest.mark.slow
def test_bench_augment_smoke_times_the_step_with_and_without_augmentation(tmp_path):
  from conftest import load_config
  from cnn_jax.tasks import benchmark
  report = benchmark.run(load_config('bench_augment'), str(tmp_path))
  impls = {r.impl for r in report.results}
  assert impls == {'none', 'shift'}
  assert all(r.median_s > 0 for r in report.results)
  assert next(r for r in report.results if r.impl == 'none').speedup == 1.0
  assert (tmp_path / 'benchmark.json').exists()


# ---------------------------------------------------------------- masks and points

# Every geometric op alone (p=1, so each moves), and a composed warp run with a reflect rule.
TARGET_SPECS = ['flip_lr(p=1.0)', 'flip_ud(p=1.0)', 'pad_crop(pad=3)',
                'random_resized_crop(scale=(0.2, 0.6))', 'random_resized_crop(size=(10, 14))',
                'rotate(degrees=(20, 70))', 'shear(x=25.0, y=10.0)',
                'affine(degrees=30.0, translate=0.2, scale=(0.7, 1.3), shear=10.0)',
                'elastic(alpha=6.0, sigma=3.0, mode="constant")',
                'pad_crop(pad=2, mode="reflect")|rotate(degrees=30, mode="reflect")|shear(x=20.0)']
S = 12  # image side: the one-hot "which input pixel" image has S * S channels


def target_sample():
  """A sample whose image says, per output pixel, where it came from: channels 0..S*S-1 are
  the one-hot of the input pixel index (= the instance mask's id), the last 3 channels hold a
  bright pixel at each of 3 landmark points (pixel centres; point 2 sits in box 0)."""
  ids = jnp.arange(S * S, dtype=jnp.int32).reshape(S, S)
  points = jnp.array([[3.5, 4.5], [8.5, 4.5], [6.5, 7.5]])
  spots = jnp.zeros((S, S, 3)).at[jnp.array([4, 4, 7]), jnp.array([3, 8, 6]),
                                   jnp.arange(3)].set(1.0)
  image = jnp.concatenate([jax.nn.one_hot(ids, S * S), spots], -1)
  boxes = jnp.array([[5.0, 6.0, 8.5, 10.0], [0.0, 0.0, 2.0, 2.0]])
  return dict(image=image, mask=ids, points=points, boxes=boxes, label=jnp.int32(7))


@pytest.mark.parametrize('spec', TARGET_SPECS)
def test_masks_points_and_boxes_move_with_the_image(spec):
  """Masks: each output pixel's id is the input pixel whose bilinear weight is largest in
  the image's own resampling (argmax of the warped one-hot), i.e. the mask follows exactly
  the same source points; ids stay integers; out-of-frame pixels take mask_fill (-1) where
  the image is mostly fill. Points: the centroid of the bright pixel lands on the mapped
  point; a point inside a box stays inside the moved box; validity = inside the frame."""
  sample = target_sample()
  out = jax.jit(augment.make_augment(spec, mask_fill=-1))(jax.random.key(5), sample)
  image, mask = np.asarray(out['image']), np.asarray(out['mask'])
  h, w = image.shape[:2]
  assert mask.shape == (h, w) and mask.dtype == np.int32 and int(out['label']) == 7
  onehot = image[..., :S * S]
  inside = mask >= 0
  assert inside.mean() > 0.3
  np.testing.assert_array_equal(onehot.argmax(-1)[inside], mask[inside])
  if 'resized' not in spec:  # bilinear stencil: the containing pixel weighs >= 1/4
    assert np.take_along_axis(onehot, mask[..., None].clip(0), -1)[inside].min() > 0.25 - 1e-5
  assert onehot.sum(-1)[~inside].max(initial=0.0) <= 0.5 + 1e-5
  points, valid = np.asarray(out['points']), np.asarray(out['points_valid'])
  ys, xs = np.mgrid[0:h, 0:w] + 0.5
  tol = 0.35 if 'elastic' in spec else 1e-4 if spec in TARGET_SPECS[:3] else 0.1  # exact moves
  checked = 0
  for k in range(3):
    np.testing.assert_array_equal(valid[k], (0 <= points[k]).all() and points[k, 0] <= w
                                  and points[k, 1] <= h)
    spot = image[..., S * S + k]
    if valid[k] and (points[k] > 1.5).all() and (points[k] < [w - 1.5, h - 1.5]).all():
      centroid = [(spot * xs).sum() / spot.sum(), (spot * ys).sum() / spot.sum()]
      np.testing.assert_allclose(centroid, points[k], atol=tol)
      checked += 1
  assert checked >= 1
  box = np.asarray(out['boxes'])[0]
  if valid[2]:  # the point sat inside box 0
    margin = 0.3 if 'elastic' in spec else 1e-4
    assert box[0] - margin <= points[2, 0] <= box[2] + margin
    assert box[1] - margin <= points[2, 1] <= box[3] + margin
  np.testing.assert_array_equal(out['boxes_valid'],
                                (out['boxes'][:, 2] > out['boxes'][:, 0])
                                & (out['boxes'][:, 3] > out['boxes'][:, 1]))


def test_flips_swap_the_named_point_pairs_and_masks_keep_their_dtype():
  points = jnp.array([[2.0, 3.0], [6.0, 3.0], [4.0, 6.0]])  # left eye, right eye, mouth
  mask = jnp.zeros((8, 8, 2), jnp.uint8).at[1, 2, 0].set(5).at[6, 7, 1].set(255)
  sample = dict(image=ramp(), mask=mask, points=points,
                points_valid=jnp.array([True, False, True]))
  out = geo.flip_lr(KEY, sample, p=1.0, flip_pairs=((0, 1),))
  np.testing.assert_array_equal(out['points'], [[2.0, 3.0], [6.0, 3.0], [4.0, 6.0]])
  np.testing.assert_array_equal(out['points_valid'], [False, True, True])  # renamed too
  np.testing.assert_array_equal(out['mask'], np.asarray(mask)[:, ::-1])
  assert out['mask'].dtype == jnp.uint8
  out = geo.flip_ud(KEY, sample, p=1.0, flip_pairs=((0, 1),))
  np.testing.assert_array_equal(out['points'], [[6.0, 5.0], [2.0, 5.0], [4.0, 2.0]])
  out = geo.flip_lr(KEY, sample, p=1.0)  # no pairs: positions mirror, names stay
  np.testing.assert_array_equal(out['points'], [[6.0, 3.0], [2.0, 3.0], [4.0, 6.0]])
  out = augment.make_augment('flip_lr(p=0.0)', flip_pairs=((0, 1),))(KEY, sample)
  np.testing.assert_array_equal(out['points'], points)  # not flipped: not renamed
  with pytest.raises(ValueError, match='flip_pairs'):
    augment.make_augment('flip_lr', flip_pairs=((0, 1), (1, 2)))
  with pytest.raises(ValueError, match=r'\[0, 3\)'):
    geo.flip_lr(KEY, sample, p=1.0, flip_pairs=((0, 5),))


def test_targets_leaving_the_frame_lose_validity_and_bad_samples_are_named():
  sample = dict(image=ramp(), boxes=jnp.array([[0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 7.0, 7.0]]),
                points=jnp.array([[1.0, 1.0], [6.0, 6.0]]), mask=jnp.ones((8, 8), jnp.int32))
  out = geo.warp_affine(sample, warp.affine_matrix(8, 8, translate_x=-4.0), mask_fill=255)
  np.testing.assert_array_equal(out['boxes_valid'], [False, True])
  np.testing.assert_array_equal(out['points_valid'], [False, True])
  np.testing.assert_allclose(out['points'], [[-3.0, 1.0], [2.0, 6.0]])   # kept, not clipped
  np.testing.assert_array_equal(out['mask'][:, 4:], 255)                 # the ignore value
  np.testing.assert_array_equal(out['mask'][:, :4], 1)
  back = geo.warp_affine(out, warp.affine_matrix(8, 8, translate_x=4.0))
  np.testing.assert_array_equal(back['points_valid'], [False, True])    # lost stays lost
  with pytest.raises(ValueError, match=r"mask'\] has shape \(8, 6\) but the image is 8x8"):
    augment.make_augment('flip_lr')(KEY, dict(image=ramp(), mask=jnp.zeros((8, 6))))
  with pytest.raises(ValueError, match=r"points'\] must be \[N, 2\]"):
    geo.rotate(KEY, dict(image=ramp(), points=jnp.zeros((3,))))


def test_batch_dict_is_vmap_of_the_single_sample_function():
  spec = 'flip_lr|pad_crop(pad=2)|rotate(degrees=40)|color(hue=0.2)'
  one = target_sample()
  batch = jax.tree.map(lambda a: jnp.stack([a] * 3), one)
  out = jax.jit(augment.make_batch_augment(spec, flip_pairs=((0, 1),)))(KEY, batch)
  single = jax.jit(augment.make_augment(spec, flip_pairs=((0, 1),)))
  for i, k in enumerate(jax.random.split(KEY, 3)):
    ref = single(k, one)
    for name in ('image', 'mask', 'points', 'points_valid', 'boxes', 'boxes_valid'):
      np.testing.assert_allclose(out[name][i], ref[name], atol=1e-5)
  np.testing.assert_array_equal(out['label'], [7, 7, 7])
  same = augment.make_batch_augment('none')(KEY, batch)
  np.testing.assert_array_equal(same['mask'], batch['mask'])
  np.testing.assert_array_equal(same['points_valid'], True)
