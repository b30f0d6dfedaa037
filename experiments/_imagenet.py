r"""The ImageNet recipe shared by the *_imagenet experiments (not an experiment itself).

Goyal et al. / torchvision's ResNet-50 reference: SGD momentum 0.9, batch 256, lr 0.1 x
batch / 256, weight decay 1e-4 on kernels only, 5-epoch linear warmup then cosine over 90
epochs, label smoothing 0.1. Training images: the Inception crop (area 8-100%, aspect
3/4-4/3, else the centre crop; data.transforms.inception_crop_box) of the decoded image of
any size, resized to 224 px, and a random flip, on the host before batching
(config.data.host_augment); evaluation on the 'validation' split: shorter side 256, centre
224 crop. Keys: experiments/_classification.py.

The data a run needs (nothing is downloaded at run time; offline this stops with an error
that says what to do):

    <data_dir>/downloads/manual/ILSVRC2012_img_train.tar   # image-net.org, after sign-up
    <data_dir>/downloads/manual/ILSVRC2012_img_val.tar
    $ tfds build imagenet2012 --data_dir=<data_dir> --file_format=array_record
    -> <data_dir>/imagenet2012/5.1.0/  (array_record shards + dataset_info.json)
    $ python launch.py --config experiments/resnet_imagenet.py --workdir runs/r50 \
        --config.data.dir=<data_dir>      # or TFDS_DATA_DIR=<data_dir>
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))
TRAIN_IMAGES = 1_281_167
BATCH = 256
STEPS_PER_EPOCH = TRAIN_IMAGES // BATCH  # 5,004


def recipe(smoke: bool) -> ml_collections.ConfigDict:
  """The recipe; `smoke`: the tests' 2-step variant (64 px, batch 8)."""
  c = _FAMILY['base']()
  c.data.update(name='tfds:imagenet2012', image_size=224, resize='resize', channels=3,
                batch_size=BATCH, eval_batch_size=1000,
                augment='', host_augment='inception_crop(scale=(0.08, 1.0))|flip_lr')
  c.loss.label_smoothing = 0.1
  c.optimizer.update(name='momentum', learning_rate=0.1 * BATCH / 256, momentum=0.9,
                     nesterov=False, weight_decay=1e-4, decay_norm_and_bias=False)
  c.schedule.update(name='cosine', warmup_steps=5 * STEPS_PER_EPOCH, end_fraction=0.0)
  c.train.update(steps=90 * STEPS_PER_EPOCH, log_every=100, eval_every=5 * STEPS_PER_EPOCH,
                 checkpoint_every=STEPS_PER_EPOCH)
  if smoke:
    _FAMILY['smoke'](c, steps=2)
    c.data.image_size = 64
    c.train.log_every = 1
  return c
