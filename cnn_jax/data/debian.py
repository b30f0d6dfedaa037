"""Files shipped inside Debian packages (photos, style images), fetched offline-style.

    path = fetch_member('darknet/person.jpg')      # pathlib.Path, SHA-256 checked
    image = read_image('darknet/person.jpg')       # uint8 [H, W, 3]

A `DebMember` names a package and one absolute path inside it. Order of lookup:
1. the installed file (`dpkg` put it at `member`), if its SHA-256 matches;
2. the cache, `<cache>/debian/<package>/<file name>` (<cache> = $CNN_JAX_CACHE or
   ~/.cache/cnn_jax), re-checked on every use;
3. `apt-get download <package>` into a temporary folder (the .deb only: nothing is installed,
   no maintainer script runs), then `dpkg-deb --fsys-tarfile` streams its data and every
   registered member of that package is extracted, checked and cached at once (so a 96 MB
   .deb is downloaded once for all of its members).

The checksum is of the member file, not of the .deb, so a rebuilt package (new version, same
file) still verifies. Without apt (not a Debian/Ubuntu machine) `DebianFetchError` gives the
commands to run by hand and where to put the file.
"""
import dataclasses
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

import numpy as np

from cnn_jax.weights import fetch, files


@dataclasses.dataclass(frozen=True)
class DebMember:
  """`member` (absolute path inside Debian package `package`) with its SHA-256."""
  package: str
  member: str
  sha256: str

  @property
  def filename(self) -> str:
    return self.member.rsplit('/', 1)[-1]


MEMBERS = {
    'darknet/person.jpg': DebMember(
        'darknet', '/usr/share/darknet/data/person.jpg',
        'cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1'),
    'darknet/scream.jpg': DebMember(
        'darknet', '/usr/share/darknet/data/scream.jpg',
        'dcab7bae866fbb396e01ab27a9c8d2d40b3e80911dafb05a5fa18d1bac6b8d17'),
    'darknet/dog.jpg': DebMember(
        'darknet', '/usr/share/darknet/data/dog.jpg',
        '5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866'),
    'darknet/horses.jpg': DebMember(
        'darknet', '/usr/share/darknet/data/horses.jpg',
        'c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4'),
    'opencv-doc/starry_night.jpg': DebMember(
        'opencv-doc', '/usr/share/doc/opencv-doc/examples/data/starry_night.jpg',
        'accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d'),
}


class DebianFetchError(fetch.FetchError):
  """The .deb could not be downloaded or unpacked; the message gives the manual commands."""


def cached_path(member: DebMember, cache: str | os.PathLike | None = None) -> pathlib.Path:
  """Where `member` is cached: <cache>/debian/<package>/<file name>."""
  folder = pathlib.Path(cache) if cache is not None else fetch.cache_dir()
  return folder / 'debian' / member.package / member.filename


def _manual(member: DebMember, cache) -> str:
  return (f'By hand: `apt-get update && apt-get download {member.package} && dpkg-deb -x '
          f'{member.package}_*.deb extracted/` then copy extracted{member.member} to '
          f'{cached_path(member, cache)} (SHA-256 {member.sha256}).')


def _run(cmd: list[str], cwd: str, member: DebMember, cache) -> None:
  proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1200)
  if proc.returncode != 0:
    detail = (proc.stderr or proc.stdout).strip()[-1200:]
    hint = (' The package lists may be missing: run `apt-get update` first.'
            if 'Unable to locate' in detail or 'no installation candidate' in detail else '')
    raise DebianFetchError(f'`{" ".join(cmd)}` failed (exit {proc.returncode}): {detail}.{hint} '
                           + _manual(member, cache))


def _download_and_extract(member: DebMember, cache) -> None:
  """apt-get download + dpkg-deb --fsys-tarfile; caches every registered member of the package."""
  for tool in ('apt-get', 'dpkg-deb'):
    if shutil.which(tool) is None:
      raise DebianFetchError(f'`{tool}` is not on this machine (not Debian/Ubuntu), so '
                             f'{member.package}\'s {member.filename} cannot be fetched. '
                             + _manual(member, cache))
  wanted = {m.member.lstrip('/'): m for m in MEMBERS.values() if m.package == member.package}
  wanted.setdefault(member.member.lstrip('/'), member)
  with tempfile.TemporaryDirectory(prefix='cnn_jax_deb_') as tmp:
    os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write the download
    _run(['apt-get', 'download', '-q', member.package], tmp, member, cache)
    debs = sorted(pathlib.Path(tmp).glob(f'{member.package}_*.deb'))
    if len(debs) != 1:
      raise DebianFetchError(f'apt-get download {member.package} left {debs}. '
                             + _manual(member, cache))
    proc = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(debs[0])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    extracted = {}
    with tarfile.open(fileobj=proc.stdout, mode='r|') as stream:  # one pass, no seeking
      for info in stream:
        name = info.name[2:] if info.name.startswith('./') else info.name
        if name in wanted and info.isfile():
          extracted[name] = stream.extractfile(info).read()
    proc.stdout.close()
    if proc.wait() != 0:
      raise DebianFetchError(f'dpkg-deb --fsys-tarfile {debs[0].name} failed: '
                             f'{proc.stderr.read().decode(errors="replace")[-800:]}')
  for name, data in extracted.items():
    target = wanted[name]
    files.check_digest(files.sha256_bytes(data), target.sha256, f'{target.member} in '
                       f'{debs[0].name}')
    path = cached_path(target, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
    partial.write_bytes(data)
    os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
  if member.member.lstrip('/') not in extracted:
    raise DebianFetchError(f'{debs[0].name} has no {member.member}. ' + _manual(member, cache))


def fetch_member(name: str | DebMember, cache: str | os.PathLike | None = None) -> pathlib.Path:
  """The verified local file for a `MEMBERS` key ('darknet/person.jpg') or a DebMember."""
  if isinstance(name, str):
    if name not in MEMBERS:
      raise KeyError(f'Unknown Debian member {name!r}; known: {sorted(MEMBERS)}.')
    member = MEMBERS[name]
  else:
    member = name
  installed = pathlib.Path(member.member)
  if installed.is_file() and files.sha256(installed) == member.sha256:
    return installed
  path = cached_path(member, cache)
  if not path.exists():
    _download_and_extract(member, cache)
  files.verify_sha256(path, member.sha256)
  return path


def read_image(name: str | DebMember, cache: str | os.PathLike | None = None) -> np.ndarray:
  """A Debian-shipped photo as uint8 [H, W, 3] (greyscale is repeated to 3 channels)."""
  from PIL import Image  # Pillow comes with scikit-image / matplotlib
  with Image.open(fetch_member(name, cache)) as image:
    return np.asarray(image.convert('RGB'))
