r"""Detections of a trained YOLO run on your own images (or its held-out canvases), one line.

Command (after experiments/yolo_canvas.py has trained in runs/yolo_canvas):
  python launch.py --config experiments/yolo_predict.py --workdir runs/yolo_predict \
      --config.run=runs/yolo_canvas [--config.images="('a.png', 'b.jpg')"]

Produces in the workdir: predictions.png (each image with labelled boxes), detections.json
(COCO results format: image_id, file_name, category_id, category_name, bbox [x, y, w, h] in
the original image's pixels, score), config.json. Images are converted to the run's channels
and resized to its canvas size (yolo_canvas: 64x64, where its digits were 17..34 px).
Time: seconds (one compile). `:smoke` is used by the tests with a tiny trained run.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = ml_collections.ConfigDict()
  c.task = 'yolo_predict'
  c.run = 'runs/yolo_canvas'   # the trained yolo workdir
  c.images = ()                # files or data.photos names; () = the run's held-out canvases
  c.num_canvases = 8 if arg != 'smoke' else 2
  c.score_threshold = -1.0     # < 0: the run's config.predict.score_threshold (the course's 0.6)
  return c
