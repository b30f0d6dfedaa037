"""torchvision FasterRCNN state dict -> variables of `models.faster_rcnn.FasterRCNN`.

    sd = weights.torch_file.load(path)  (or any {name: array})
    variables = from_torchvision(sd, backbone_convs=('backbone.0', 'backbone.2', ...))

Layouts: conv OIHW -> HWIO, linear [out, in] -> [in, out]. fc6 reads the RoIAlign crop
flattened: torchvision flattens NCHW crops as (c, h, w), this model NHWC crops as (h, w, c),
so fc6's input rows are permuted accordingly. The RPN head's 4A delta channels are ordered
(anchor, coordinate) in both. Covers the `SmallBackbone` (its conv layers named in order by
`backbone_convs`); zoo backbones convert with `weights.convert` and go under 'backbone'.
"""
import numpy as np

_HEAD = {
    ('rpn_head', 'conv'): 'rpn.head.conv.0.0',
    ('rpn_head', 'cls_logits'): 'rpn.head.cls_logits',
    ('rpn_head', 'bbox_pred'): 'rpn.head.bbox_pred',
    ('fc6',): 'roi_heads.box_head.fc6',
    ('fc7',): 'roi_heads.box_head.fc7',
    ('cls_score',): 'roi_heads.box_predictor.cls_score',
    ('bbox_pred',): 'roi_heads.box_predictor.bbox_pred',
}


def _get(state_dict, key):
  if key not in state_dict:
    raise KeyError(f'state dict has no {key!r}; its keys are {sorted(state_dict)}')
  return np.asarray(state_dict[key], np.float32)


def from_torchvision(state_dict: dict, backbone_convs=('backbone.0', 'backbone.2', 'backbone.4',
                                                       'backbone.6'),
                     roi_output_size: int = 7) -> dict:
  """{'params': ...} for FasterRCNN(backbone=None) from a torchvision FasterRCNN state dict.

  Args:
    state_dict: name -> array (numpy or anything np.asarray takes).
    backbone_convs: the torch names of the backbone's convs, in order (-> conv0, conv1, ...).
    roi_output_size: the RoIAlign output side (7), to unflatten fc6's input.
  Raises KeyError listing the state dict's keys when one is missing.
  """
  params = {'backbone': {}}
  for i, name in enumerate(backbone_convs):
    params['backbone'][f'conv{i}'] = {
        'kernel': _get(state_dict, f'{name}.weight').transpose(2, 3, 1, 0),
        'bias': _get(state_dict, f'{name}.bias')}
  for path, name in _HEAD.items():
    w, b = _get(state_dict, f'{name}.weight'), _get(state_dict, f'{name}.bias')
    if w.ndim == 4:
      w = w.transpose(2, 3, 1, 0)
    elif path == ('fc6',):
      s = roi_output_size
      c = w.shape[1] // (s * s)
      w = w.reshape(w.shape[0], c, s, s).transpose(2, 3, 1, 0).reshape(s * s * c, w.shape[0])
    else:
      w = w.T
    node = params
    for p in path[:-1]:
      node = node.setdefault(p, {})
    node[path[-1]] = {'kernel': w, 'bias': b}
  return {'params': params}
