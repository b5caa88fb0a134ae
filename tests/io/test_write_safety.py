"""Writing never loses a file: atomic replacement, complete files only, no silent geometry change."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medimg.io import ImageWriteError, read, write
from napari_medimg.io import formats
from napari_medimg.volume import Volume

VOLUME_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def _volume(shape=(6, 7, 8), value=None) -> Volume:
    array = np.random.default_rng(1).integers(-1000, 1000, shape).astype(np.int16)
    if value is not None:
        array[...] = value
    return Volume(array, (2.5, 0.75, 0.8), (10.0, -20.0, 30.5), np.eye(3))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or ".tmp" in p.name)


@pytest.mark.parametrize("ext", VOLUME_EXTENSIONS)
def test_write_leaves_only_the_file_and_round_trips(tmp_path, ext):
    volume = _volume()
    written = write(volume, tmp_path / f"out{ext}")
    assert written == tmp_path / f"out{ext}"
    assert _leftovers(tmp_path) == []
    back = read(written)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.spacing, volume.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-4)


@pytest.mark.parametrize("ext", VOLUME_EXTENSIONS)
def test_overwrite_false_refuses_and_keeps_the_old_file(tmp_path, ext):
    target = tmp_path / f"out{ext}"
    write(_volume(value=1), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ImageWriteError, match="already exists.*overwrite"):
        write(_volume(value=2), target, overwrite=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    write(_volume(value=3), target)  # the library default replaces (napari's dialog has asked)
    assert int(read(target).array.max()) == 3


def test_overwrite_false_also_protects_a_companion_data_file(tmp_path):
    stranger = tmp_path / "out.raw"
    stranger.write_bytes(b"somebody else's data")
    with pytest.raises(ImageWriteError, match="out.raw already exists"):
        write(_volume(), tmp_path / "out.mhd", overwrite=False, compress=False)
    assert stranger.read_bytes() == b"somebody else's data"
    assert not (tmp_path / "out.mhd").exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("ext", VOLUME_EXTENSIONS)
def test_a_failing_writer_keeps_the_previous_good_file(tmp_path, monkeypatch, ext):
    target = tmp_path / f"out{ext}"
    write(_volume(value=7), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = sitk.WriteImage

    def half_then_fail(image, name, **kw):
        real(image, name, **kw)
        Path(name).write_bytes(Path(name).read_bytes()[:100])
        raise RuntimeError("Exception thrown in SimpleITK ImageFileWriter_Execute: something broke")

    monkeypatch.setattr(formats.sitk, "WriteImage", half_then_fail)
    with pytest.raises(ImageWriteError, match=f"writing {target} failed: .*something broke"):
        write(_volume(value=9), target)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert int(read(target).array.max()) == 7


@pytest.mark.parametrize("ext", VOLUME_EXTENSIONS)
@pytest.mark.parametrize("compress", [True, False])
def test_a_silently_cut_file_is_never_reported_as_written(tmp_path, monkeypatch, ext, compress):
    """ITK's NIfTI writer stops without an error on a full disk: the size check catches it."""
    target = tmp_path / f"out{ext}"
    write(_volume(value=5), target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = sitk.WriteImage

    def cut_silently(image, name, **kw):
        real(image, name, **kw)
        parts = sorted(Path(name).parent.iterdir(), key=lambda p: p.stat().st_size)
        biggest = parts[-1]  # the data (or the single file)
        biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size * 2 // 3])

    monkeypatch.setattr(formats.sitk, "WriteImage", cut_silently)
    with pytest.raises(ImageWriteError, match="incomplete|cannot be read back|header says"):
        write(_volume(), target, compress=compress)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_permission_and_disk_errors_name_the_file_and_the_remedy(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    with pytest.raises(ImageWriteError, match=r"permission denied writing .*out.nii.gz: choose a folder"):
        write(_volume(), tmp_path / "out.nii.gz")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    with pytest.raises(ImageWriteError, match="no space left on the disk holding .*previous file .* unchanged"):
        write(_volume(), tmp_path / "out.nii.gz")


def _can_mount_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare + tmpfs (Linux user namespaces)")
def test_a_really_full_disk_and_a_read_only_disk(tmp_path):
    """On a 256 KiB tmpfs: every format reports the full disk and keeps the previous file."""
    script = textwrap.dedent(
        f"""
        import numpy as np, sys
        from pathlib import Path
        from napari_medimg.io import ImageWriteError, read, write
        from napari_medimg.volume import Volume
        folder = Path({str(tmp_path / 'disk')!r})
        small = Volume(np.full((2, 3, 4), 7, np.int16), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
        big = Volume(np.random.default_rng(0).normal(size=(20, 64, 64)).astype(np.float32),
                     (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
        ext = sys.argv[1]
        target = folder / ("out" + ext)
        write(small, target)
        try:
            write(big, target, compress=False)
            sys.exit(ext + ": reported success")
        except ImageWriteError as exc:
            if "no space left on the disk" not in str(exc):
                sys.exit(ext + ": " + str(exc))
        if int(read(target).array.max()) != 7:
            sys.exit(ext + ": previous file damaged")
        leftovers = [p.name for p in folder.iterdir() if ".partial" in p.name]
        if leftovers:
            sys.exit(ext + ": left " + str(leftovers))
        """
    )
    disk = tmp_path / "disk"
    disk.mkdir()
    # one process per format: ITK's NRRD writer keeps a deleted file open after a failed
    # write, so its blocks only come back when the process ends
    loop = f'for ext in {" ".join(VOLUME_EXTENSIONS)}; do {sys.executable} -c "$0" $ext || exit 1; done'
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=256k tmpfs {disk} && {loop}", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    read_only = textwrap.dedent(
        f"""
        import numpy as np
        from napari_medimg.io import ImageWriteError, write
        from napari_medimg.volume import Volume
        try:
            write(Volume(np.zeros((2, 3, 4), np.int16), (1.0,) * 3, (0, 0, 0), np.eye(3)), {str(disk / 'x.nii.gz')!r})
        except ImageWriteError as exc:
            print(exc)
        """
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o ro,size=64k tmpfs {disk} && {sys.executable} -c \"$0\"", read_only],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "read-only file system: write somewhere else" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("spacing", [(1e-50, 1.0, 1.0), (1e300, 1.0, 1.0)])
def test_nifti_refuses_a_spacing_float32_cannot_hold(tmp_path, spacing):
    volume = Volume(np.zeros((2, 3, 4), np.int16), spacing, (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(ImageWriteError, match="NIfTI cannot hold the spacing.*write .nrrd or .mha"):
        write(volume, tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []
    write(volume, tmp_path / "out.mha")  # MetaImage stores doubles: the header keeps it
    np.testing.assert_allclose(sitk.ReadImage(str(tmp_path / "out.mha")).GetSpacing()[::-1], spacing, rtol=1e-12)


def test_nifti_refuses_an_origin_float32_would_move(tmp_path):
    volume = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0), (1234567.891, 0.0, 0.0), np.eye(3))
    with pytest.raises(ImageWriteError, match="NIfTI cannot hold the origin"):
        write(volume, tmp_path / "out.nii")
    write(volume, tmp_path / "out.nii", allow_geometry_loss=True)  # asked for: written anyway
    assert abs(read(tmp_path / "out.nii").origin[0] - 1234567.891) < 0.1


def test_nifti_refuses_a_skewed_direction_that_mha_keeps(tmp_path):
    skew = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.2], [0.0, 0.0, 1.0]])
    skew /= np.linalg.norm(skew, axis=0)
    volume = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), skew)
    with pytest.raises(ImageWriteError, match="NIfTI needs an orthonormal direction.*would be forced orthogonal"):
        write(volume, tmp_path / "out.nii.gz")
    write(volume, tmp_path / "out.mha")
    np.testing.assert_allclose(read(tmp_path / "out.mha").direction, skew, atol=1e-9)


def test_ordinary_float_spacing_still_writes_to_nifti(tmp_path):
    volume = Volume(np.zeros((2, 3, 4), np.int16), (0.123456789, 0.7, 5.0), (-123.4567, 0.1, 9.9), np.eye(3))
    write(volume, tmp_path / "out.nii.gz")
    np.testing.assert_allclose(read(tmp_path / "out.nii.gz").spacing, volume.spacing, rtol=1e-6)


def test_a_folder_is_not_a_file_name(tmp_path):
    (tmp_path / "a.nii.gz").mkdir()
    with pytest.raises(ImageWriteError, match="it is a folder"):
        write(_volume(), tmp_path / "a.nii.gz")


def test_nan_origin_is_refused_for_every_format(tmp_path):
    volume = _volume()
    volume.origin = (float("nan"), 0.0, 0.0)
    for ext in (".nrrd", ".nii.gz"):
        with pytest.raises(ImageWriteError, match="NaN or infinite"):
            write(volume, tmp_path / f"out{ext}")
    assert os.listdir(tmp_path) == []
