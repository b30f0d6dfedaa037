r"""U-Net (SAME, batch norm, widths 16-64) overfitting the 3 real VOC 2011 photos with class
masks from the labelme==7.9.1 sdist: a check of the whole segmentation path on real photos
(reader, resize, 21 classes, labelme's don't-care pixels ignored, loss, step, metrics, pictures).

Command:
  python launch.py --config experiments/unet_voc_masks.py --workdir runs/unet_voc_masks

Data: data.voc_masks, photos and masks resized to 64x96; train = test (three photos can only
be memorised, not generalised from); ignore_index 255 (labelme's '__ignore__' borders).
No augmentation. Loss: Dice + CE with class weights sqrt(P / (K P_c)) (as unet_canvas).
tests/test_segmentation_voc.py runs this config (slow) and requires the photos to be
memorised (pixel accuracy and mIoU over the present classes).
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_segmentation.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.data.update(name='voc_masks', photo_size=(64, 96), batch_size=3, eval_batch_size=3,
                augment='')
  c.model.widths = (16, 32, 64)
  c.loss.update(border=False, ignore_index=255, class_balance='sqrt')
  c.schedule.warmup_steps = 10
  c.train.update(steps=200, log_every=25, eval_every=200, checkpoint_every=200)
  if arg == 'smoke':
    c.model.widths = (4, 8)
    c.train.update(steps=3, log_every=1, eval_every=3, checkpoint_every=3)
  return c
