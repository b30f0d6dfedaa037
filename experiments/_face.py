r"""The face family's base config (not an experiment): every key tasks/face_embedding.py and
the supervised runner (tasks/_supervised.py) read, with its default. Experiments derive from
`base()`; none derives from a sibling.
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'face_embedding'
  c.seed = 0
  c.devices = 0  # devices in the ('data',) mesh; 0 = all

  # A small dlib-style ResNet trained from scratch (models/face_recognition.py); every key
  # but `name` is a model kwarg.
  c.model = ml_collections.ConfigDict(dict(
      name='face_recognition', widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), embedding_dim=64,
      norm='batch', input_size=None))

  c.data = ml_collections.ConfigDict(dict(
      name='orl',            # the ORL / AT&T faces (data.orl), split by person; or 'lfw'
      dir='',                # 'lfw': the TFDS data dir holding a prepared lfw ('' = TFDS_DATA_DIR)
      lfw=ml_collections.ConfigDict(dict(
          min_images=5,      # people with fewer photos are left out (>= data.k for P x K)
          test_fraction=0.3, # of the kept people, never seen in training
          crop=150)),        # central crop of the 250x250 photos (0: whole photo)
      train_identities=30,   # people 0..29 train, 30..39 test (0: all 40 in test)
      image_size=150,        # ORL 92x112 grey -> 150x150x3 (the net needs >= 131)
      preprocess='resize',   # 'resize' (antialiased) | the pretrained net's 'stretch' |
                             # 'pad' (face-api's) | 'mtcnn' (pretrained evaluation only: the
                             # face box MTCNN finds, squared, resampled)
      crop_margin=0.0,       # 'mtcnn': box side grown by this fraction
      p=6, k=5,              # P identities x K photos per batch
      batch_size=30,         # = p * k
      eval_batch_size=100,
      augment='',            # on-device augmentation spec (cnn_jax.ops.augment)
      normalize='',          # inputs in [0, 1]
  ))

  c.init_from = ''           # '' (fresh) | 'face_api' (the pretrained net: evaluated when
                             # train.steps=0, else fine-tuned) | a workdir
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.loss = ml_collections.ConfigDict(dict(
      margin=0.2,
      strategy='batch_hard',  # batch_all | batch_hard | semi_hard
      metric='squared',       # squared (the course's) | euclidean | cosine
      l2_normalize=True,      # embeddings on the unit sphere (FaceNet)
  ))
  c.eval = ml_collections.ConfigDict(dict(
      metric='euclidean',     # distance used by every evaluation figure
      num_folds=10,           # pairs protocol: threshold from 9 folds, tested on the 10th
      far=0.01,               # VAL@FAR target
      n_way=(5, 10),          # N-way one-shot
      episodes=2000,
      heldout_from=30,        # pretrained evaluation: people >= this are also scored apart
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=1e-3, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=0.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='cosine', warmup_steps=0, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=600, log_every=50, eval_every=300, checkpoint_every=300, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # only 'float32' here: this family's build_model does not pass a compute dtype to its
      # model, so the runner refuses 'bfloat16' (tasks/_precision.py)
      compute_dtype='float32'))
  return c
