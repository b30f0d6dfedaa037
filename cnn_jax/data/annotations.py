"""Readers for the two standard box-annotation formats, Pascal VOC XML and COCO JSON, into the
padded dict of `data.canvases` (static shapes: N slots per image + a validity mask).

    voc = read_voc(['a.xml', 'b.xml'], class_names=VOC_CLASSES)
    coco = read_coco('instances.json')                      # every image of the file
    voc['boxes']   # float32 [B, N, 4] xyxy pixels;  voc['labels'] int32 [B, N] (-1 empty)
    voc['valid']   # bool [B, N];  voc['count'] int32 [B];  voc['sizes'] int32 [B, 2] (H, W)
    voc['files']   # the image file names;  voc['class_names'] the label -> name table
    voc['difficult'] / coco['iscrowd']   bool [B, N]
    coco = read_coco(path, masks=True)  # + 'masks' bool [B, N, H_max, W_max] (top-left aligned)

Coordinates (continuous, pixel (i, j) covers [j, j + 1] x [i, i + 1], torchvision's boxes):
  COCO bbox [x, y, w, h] -> [x, y, x + w, y + h]; polygons are rasterised by pixel centre
  (skimage.draw.polygon); RLE (iscrowd) counts alternate background/foreground runs in
  column-major order (uncompressed lists; compressed strings need pycocotools: an error).
  VOC bndbox: `one_based=True` (the VOC devkit's 1-based inclusive pixel indices) ->
  [xmin - 1, ymin - 1, xmax, ymax]; `one_based=False` takes the numbers as continuous
  coordinates (what labelme's labelme2voc writes).

Labels are indices into `class_names` (VOC: the names given, default VOC_CLASSES; COCO: the
file's categories sorted by id, or the names given). Anything malformed raises
AnnotationError naming the file and the field ('2011_000003.xml: object 2 <bndbox>/<xmax>').

`labelme_files(members)` reads files of the labelme==7.9.1 source archive (fetched once,
checksummed and cached: `weights.fetch.CARRIERS['labelme']`): 3 real VOC 2011 photos with VOC
XML boxes, a COCO JSON of polygons and the object/class masks made from those polygons.
"""
import json
import os
import pathlib
import tarfile
import xml.etree.ElementTree as ET

import numpy as np

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
LABELME_ROOT = 'labelme-7.9.1/examples/'


class AnnotationError(ValueError):
  """A malformed annotation file; the message names the file and the field."""


def _load_text(source, what: str) -> tuple[str, bytes]:
  """(name, bytes) from a path or a (name, bytes) pair."""
  if isinstance(source, tuple):
    return source[0], source[1]
  path = pathlib.Path(source)
  if not path.is_file():
    raise FileNotFoundError(f'{what} file {path} does not exist.')
  return str(path), path.read_bytes()


def _number(node, tag: str, name: str, field: str) -> float:
  child = node.find(tag)
  if child is None or child.text is None or not child.text.strip():
    raise AnnotationError(f'{name}: {field}/<{tag}> is missing.')
  try:
    return float(child.text)
  except ValueError:
    raise AnnotationError(f'{name}: {field}/<{tag}> = {child.text!r} is not a number.') from None


def parse_voc(source, class_names=VOC_CLASSES, one_based: bool = True) -> dict:
  """One VOC XML (path or (name, bytes)) -> unpadded {'boxes' [n, 4], 'labels' [n],
  'difficult' [n], 'size' (H, W), 'file' (its <filename>), 'source' (the XML's name)}."""
  name, data = _load_text(source, 'VOC XML')
  try:
    root = ET.fromstring(data)
  except ET.ParseError as e:
    raise AnnotationError(f'{name}: not well-formed XML ({e}).') from None
  if root.tag != 'annotation':
    raise AnnotationError(f'{name}: root element is <{root.tag}>, expected <annotation>.')
  size = root.find('size')
  if size is None:
    raise AnnotationError(f'{name}: <size> is missing.')
  h, w = (int(_number(size, t, name, '<size>')) for t in ('height', 'width'))
  index = {c: i for i, c in enumerate(class_names)}
  boxes, labels, difficult = [], [], []
  for k, obj in enumerate(root.findall('object'), 1):
    field = f'object {k}'
    cls = (obj.findtext('name') or '').strip()
    if cls not in index:
      raise AnnotationError(f'{name}: {field} <name> = {cls!r} is not in class_names '
                            f'({len(index)} names, e.g. {list(index)[:5]}).')
    bb = obj.find('bndbox')
    if bb is None:
      raise AnnotationError(f'{name}: {field} has no <bndbox>.')
    x1, y1, x2, y2 = (_number(bb, t, name, f'{field} <bndbox>')
                      for t in ('xmin', 'ymin', 'xmax', 'ymax'))
    if one_based:
      x1, y1 = x1 - 1, y1 - 1
    if not (0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h):
      raise AnnotationError(f'{name}: {field} <bndbox> {[x1, y1, x2, y2]} is not a box inside '
                            f'the {h}x{w} image (xmin <= xmax, ymin <= ymax, one_based='
                            f'{one_based}).')
    boxes.append([x1, y1, x2, y2])
    labels.append(index[cls])
    difficult.append((obj.findtext('difficult') or '0').strip() == '1')
  return {'boxes': np.array(boxes, np.float32).reshape(-1, 4), 'labels': np.array(labels, np.int32),
          'difficult': np.array(difficult, bool), 'size': (h, w), 'source': name,
          'file': (root.findtext('filename') or '').strip()}


def _pad(items: list[dict], max_boxes: int | None, extra: str, names) -> dict:
  """Stacks unpadded per-image dicts into the padded batch of the module docstring."""
  counts = np.array([len(it['labels']) for it in items], np.int32)
  n = max(int(counts.max(initial=0)), 1) if max_boxes is None else max_boxes
  if counts.max(initial=0) > n:
    worst = items[int(np.argmax(counts))]
    raise AnnotationError(f'{worst["source"]}: {counts.max()} objects > max_boxes={n}.')
  b = len(items)
  out = {'boxes': np.zeros((b, n, 4), np.float32), 'labels': np.full((b, n), -1, np.int32),
         extra: np.zeros((b, n), bool), 'valid': np.arange(n)[None] < counts[:, None],
         'count': counts, 'sizes': np.array([it['size'] for it in items], np.int32).reshape(b, 2),
         'files': [it['file'] for it in items], 'class_names': tuple(names)}
  for i, it in enumerate(items):
    k = counts[i]
    out['boxes'][i, :k], out['labels'][i, :k], out[extra][i, :k] = (
        it['boxes'], it['labels'], it[extra])
  return out


def read_voc(sources, class_names=VOC_CLASSES, max_boxes: int | None = None,
             one_based: bool = True) -> dict:
  """VOC XML files (paths or (name, bytes) pairs) -> the padded batch (N = max_boxes or the
  largest count)."""
  return _pad([parse_voc(s, class_names, one_based) for s in sources], max_boxes, 'difficult',
              class_names)


def rle_decode(counts, size: tuple[int, int]) -> np.ndarray:
  """COCO uncompressed RLE: run lengths alternating 0, 1, 0, ... over the column-major
  (Fortran order) flattening of an [H, W] mask -> bool [H, W]."""
  counts = np.asarray(counts, np.int64)
  if counts.sum() != size[0] * size[1] or (counts < 0).any():
    raise ValueError(f'RLE counts sum to {counts.sum()}, expected H*W = {size[0] * size[1]}.')
  flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
  return flat.reshape(size[1], size[0]).T


def polygon_mask(polygons, size: tuple[int, int]) -> np.ndarray:
  """COCO polygons [[x0, y0, x1, y1, ...], ...] -> bool [H, W]: pixels whose centre (j + 0.5,
  i + 0.5) is inside any polygon."""
  from skimage.draw import polygon as fill
  mask = np.zeros(size, bool)
  for poly in polygons:
    xy = np.asarray(poly, np.float64).reshape(-1, 2) - 0.5    # centres -> index coordinates
    rr, cc = fill(xy[:, 1], xy[:, 0], shape=size)
    mask[rr, cc] = True
  return mask


def _coco_field(record: dict, key: str, name: str, where: str):
  if key not in record:
    raise AnnotationError(f'{name}: {where} has no "{key}".')
  return record[key]


def read_coco(source, class_names=None, max_boxes: int | None = None,
              masks: bool = False) -> dict:
  """A COCO instances JSON (path or (name, bytes)) -> the padded batch over its images (in
  file order), 'iscrowd', 'image_ids' int64 [B], and with masks=True 'masks'."""
  name, data = _load_text(source, 'COCO JSON')
  try:
    doc = json.loads(data)
  except json.JSONDecodeError as e:
    raise AnnotationError(f'{name}: not valid JSON ({e}).') from None
  if not isinstance(doc, dict):
    raise AnnotationError(f'{name}: top level is {type(doc).__name__}, expected an object.')
  images = _coco_field(doc, 'images', name, 'the file')
  anns = _coco_field(doc, 'annotations', name, 'the file')
  cats = sorted(_coco_field(doc, 'categories', name, 'the file'),
                key=lambda c: _coco_field(c, 'id', name, 'a category'))
  names = tuple(class_names) if class_names is not None else tuple(
      _coco_field(c, 'name', name, 'a category') for c in cats)
  index = {c['id']: names.index(c['name']) for c in cats if c.get('name') in names}
  by_image = {}
  for i, im in enumerate(images):
    where = f'images[{i}]'
    h, w = (int(_coco_field(im, k, name, where)) for k in ('height', 'width'))
    by_image[_coco_field(im, 'id', name, where)] = {
        'file': str(im.get('file_name', '')), 'size': (h, w), 'boxes': [], 'labels': [],
        'source': f'{name} ({where}, {im.get("file_name", "")})',
        'iscrowd': [], 'masks': []}
  for i, ann in enumerate(anns):
    where = f'annotations[{i}]'
    img = by_image.get(_coco_field(ann, 'image_id', name, where))
    if img is None:
      raise AnnotationError(f'{name}: {where} "image_id" = {ann["image_id"]} is not an image id.')
    cat = _coco_field(ann, 'category_id', name, where)
    if cat not in index:
      raise AnnotationError(f'{name}: {where} "category_id" = {cat} is not a known category.')
    bbox = _coco_field(ann, 'bbox', name, where)
    if (not isinstance(bbox, list) or len(bbox) != 4 or
        not all(isinstance(v, (int, float)) for v in bbox) or min(bbox[2:]) < 0):
      raise AnnotationError(f'{name}: {where} "bbox" = {bbox!r} is not [x, y, w >= 0, h >= 0].')
    x, y, bw, bh = bbox
    img['boxes'].append([x, y, x + bw, y + bh])
    img['labels'].append(index[cat])
    img['iscrowd'].append(bool(ann.get('iscrowd', 0)))
    if masks:
      img['masks'].append(_ann_mask(ann, img['size'], name, where))
  items = [{**it, 'boxes': np.array(it['boxes'], np.float32).reshape(-1, 4),
            'labels': np.array(it['labels'], np.int32), 'iscrowd': np.array(it['iscrowd'], bool)}
           for it in by_image.values()]
  out = _pad(items, max_boxes, 'iscrowd', names)
  out['image_ids'] = np.array(list(by_image), np.int64)
  if masks:
    hm, wm = out['sizes'].max(0) if len(items) else (0, 0)
    out['masks'] = np.zeros(out['labels'].shape + (hm, wm), bool)
    for i, it in enumerate(items):
      for k, m in enumerate(it['masks']):
        out['masks'][i, k, :m.shape[0], :m.shape[1]] = m
  return out


def _ann_mask(ann: dict, size, name: str, where: str) -> np.ndarray:
  seg = _coco_field(ann, 'segmentation', name, where)
  if isinstance(seg, list):
    return polygon_mask(seg, size)
  if isinstance(seg, dict) and isinstance(seg.get('counts'), list):
    try:
      return rle_decode(seg['counts'], tuple(seg.get('size', size)))
    except ValueError as e:
      raise AnnotationError(f'{name}: {where} "segmentation": {e}') from None
  raise AnnotationError(f'{name}: {where} "segmentation" is neither polygons nor uncompressed '
                        'RLE (compressed RLE strings need pycocotools.mask.decode).')


def labelme_files(members, cache: str | os.PathLike | None = None) -> dict[str, bytes]:
  """{member: bytes} of `examples/<member>` files of the labelme==7.9.1 sdist (fetched once,
  SHA-256 checked, cached), e.g. 'bbox_detection/data_dataset_voc/Annotations/2011_000003.xml'."""
  from cnn_jax.weights import fetch   # lazily: the weights layer pulls in models
  archive = fetch.fetch(fetch.CARRIERS['labelme'], cache)
  wanted = {LABELME_ROOT + m: m for m in members}
  out = {}
  with tarfile.open(archive, 'r:gz') as tar:
    for info in tar:                    # one pass over the compressed stream
      if info.name in wanted and info.isfile():
        out[wanted[info.name]] = tar.extractfile(info).read()
  missing = sorted(set(members) - set(out))
  if missing:
    raise FileNotFoundError(f'{archive.name} has no {[LABELME_ROOT + m for m in missing]}.')
  return out
