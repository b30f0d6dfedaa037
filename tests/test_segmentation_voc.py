"""The whole segmentation path on real photos: the 3 VOC 2011 photos with class masks from the
labelme==7.9.1 sdist (data.voc_masks) memorised by experiments/unet_voc_masks.py (reader,
resize, don't-care pixels, loss, step, confusion-matrix metrics, pictures). The sdist is
fetched once into the cache; skipped only when the package registry is unreachable."""
import numpy as np
import pytest

from conftest import fetched_or_skip



@pytest.fixture(scope='module')
def photos():
  from cnn_jax.data import voc_masks
  return fetched_or_skip(voc_masks.load_voc_masks, (64, 96))


@pytest.mark.slow
def test_unet_memorises_the_three_voc_photos(tmp_path, photos):
  from conftest import load_config
  from cnn_jax.data import voc_masks
  from cnn_jax.tasks import segmentation
  ex = photos.train.get(np.arange(3))
  assert ex['image'].shape == (3, 64, 96, 3) and ex['image'].dtype == np.uint8
  masks = ex['segmentation']
  # Classes of the archive's masks (VOC ids: 5 bottle, 6 bus, 7 car, 9 chair, 15 person,
  # 18 sofa) survive the nearest-neighbour resize, don't-care borders become 255.
  assert set(np.unique(masks)) == {0, 5, 6, 7, 9, 15, 18, voc_masks.IGNORE}
  assert photos.num_classes == 21 and photos.class_names[15] == 'person'

  config = load_config('unet_voc_masks', None)
  config.devices = 1   # batch 3 (the three photos) on one of the suite's 4 CPU devices
  result = segmentation.run(config, str(tmp_path))
  ev = result.eval
  present = np.isin(np.arange(21), masks[masks != voc_masks.IGNORE])
  counted = int((masks != voc_masks.IGNORE).sum())
  assert ev['confusion'].sum() == counted               # ignored pixels count nowhere
  assert ev['pixel_accuracy'] > 0.95
  assert np.mean(np.asarray(ev['class_iou'])[present]) > 0.8
  assert (tmp_path / 'segmentation.png').stat().st_size > 10_000
