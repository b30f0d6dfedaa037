"""The model registry: one line per architecture, name -> (module path, class, fixed kwargs).

Entries are strings so that listing names imports nothing; `create` imports the one family
it needs. A new architecture adds its file in `models/` and its line(s) here.
"""
MODELS: dict[str, tuple[str, str, dict]] = {
    'lenet5': ('cnn_jax.models.lenet', 'LeNet5', {}),
    # The architecture zoo (issue 3): torchvision's (Keras' for MobileNet v1) exact models.
    'alexnet': ('cnn_jax.models.alexnet', 'AlexNet', {}),
    **{f'vgg{d}{"_bn" if bn else ""}': ('cnn_jax.models.vgg', 'VGG', dict(depth=d, batch_norm=bn))
       for d in (11, 13, 16, 19) for bn in (False, True)},
    'resnet18': ('cnn_jax.models.resnet', 'ResNet', dict(stage_sizes=(2, 2, 2, 2), block='basic')),
    'resnet34': ('cnn_jax.models.resnet', 'ResNet', dict(stage_sizes=(3, 4, 6, 3), block='basic')),
    'resnet50': ('cnn_jax.models.resnet', 'ResNet', dict(stage_sizes=(3, 4, 6, 3), block='bottleneck')),
    'resnet101': ('cnn_jax.models.resnet', 'ResNet', dict(stage_sizes=(3, 4, 23, 3), block='bottleneck')),
    'resnet152': ('cnn_jax.models.resnet', 'ResNet', dict(stage_sizes=(3, 8, 36, 3), block='bottleneck')),
    'resnext50_32x4d': ('cnn_jax.models.resnet', 'ResNet', dict(
        stage_sizes=(3, 4, 6, 3), block='bottleneck', groups=32, width_per_group=4)),
    'wide_resnet50_2': ('cnn_jax.models.resnet', 'ResNet', dict(
        stage_sizes=(3, 4, 6, 3), block='bottleneck', width_per_group=128)),
    'googlenet': ('cnn_jax.models.googlenet', 'GoogLeNet', {}),
    'mobilenet_v1': ('cnn_jax.models.mobilenet', 'MobileNetV1', {}),
    'mobilenet_v2': ('cnn_jax.models.mobilenet', 'MobileNetV2', {}),
    'face_recognition': ('cnn_jax.models.face_recognition', 'FaceRecognitionNet', {}),
    'unet': ('cnn_jax.models.unet', 'UNet', {}),
    'yolo': ('cnn_jax.models.yolo', 'YOLO', {}),
    'vgg16_encoder_decoder': ('cnn_jax.models.encoder_decoder', 'VGGEncoderDecoder', {}),
    'unet_mobilenet_v2': ('cnn_jax.models.encoder_decoder', 'MobileNetUNet', {}),
    'faster_rcnn': ('cnn_jax.models.faster_rcnn', 'FasterRCNN', {}),
    # 1-D and 3-D generalisations (course §1.10): [N, L, C] and [N, D, H, W, C] inputs.
    'conv1d': ('cnn_jax.models.conv1d', 'Conv1DNet', {}),
    'conv3d': ('cnn_jax.models.conv3d', 'Conv3DNet', {}),
}
