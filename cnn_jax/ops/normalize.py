"""ImageNet's per-channel RGB statistics, the one place they are written down.

torchvision's pretrained weights expect x_norm = (x - mean) / std on images in [0, 1]. A leaf
module (no imports) so that models (GoogLeNet's `transform_input`), weights (the eval
preprocessing) and tasks (`data.normalize='imagenet'`) share it without an upward import.
"""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
