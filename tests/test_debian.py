"""Debian-shipped files: the real darknet photo fetched once (apt-get download + dpkg-deb,
checksummed, cached; skipped only when the archive is unreachable), and the clear errors for a
wrong checksum and for a machine without apt."""
import pathlib

import numpy as np
import pytest
from PIL import Image

from cnn_jax.data import debian
from cnn_jax.weights import files
from conftest import fetched_or_skip


def fetch_or_skip(name, cache=None):
  """fetch_member, skipping the calling test only when the Debian archive is unreachable."""
  return fetched_or_skip(debian.fetch_member, name, cache)


def test_person_jpg_checksummed_and_cached():
  path = fetch_or_skip('darknet/person.jpg')
  assert files.sha256(path) == debian.MEMBERS['darknet/person.jpg'].sha256
  image = debian.read_image('darknet/person.jpg')
  assert image.shape == (424, 640, 3) and image.dtype == np.uint8
  np.testing.assert_array_equal(image, np.asarray(Image.open(path).convert('RGB')))


def test_wrong_checksum_in_cache_is_an_error(tmp_path):
  fake = debian.DebMember('darknet', '/nonexistent/cnn_jax/fake.jpg', '0' * 64)
  path = debian.cached_path(fake, tmp_path)
  path.parent.mkdir(parents=True)
  path.write_bytes(b'corrupt')
  with pytest.raises(files.ChecksumError, match='fake.jpg'):
    debian.fetch_member(fake, tmp_path)


def test_without_apt_the_error_gives_the_commands(tmp_path, monkeypatch):
  monkeypatch.setattr(debian.shutil, 'which', lambda tool: None)
  fake = debian.DebMember('darknet', '/nonexistent/cnn_jax/person.jpg', '0' * 64)
  with pytest.raises(debian.DebianFetchError, match=r'apt-get download darknet && dpkg-deb -x'):
    debian.fetch_member(fake, tmp_path)
  with pytest.raises(KeyError, match='darknet/person.jpg'):
    debian.fetch_member('darknet/nope.jpg')
  assert not pathlib.Path(debian.cached_path(fake, tmp_path)).exists()
