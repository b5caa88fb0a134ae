"""Mutation fuzzing in CI: a few hundred damaged copies of real files, each read in a worker
subprocess with a time and memory limit; every outcome must be "loaded" (with the original
voxels where the mutation could not change them) or an ImageReadError naming the file.

The long run is ``python scripts/fuzz_readers.py --cases 3000``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_readers.py"
CASES = 600


def _fuzzer():
    name = "napari_medimg_fuzz_readers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    fuzzer = _fuzzer()
    return fuzzer, fuzzer.fuzz(CASES, seed=2024, workers=2, timeout=10.0, memory_gib=3.0,
                               folder=tmp_path_factory.mktemp("fuzz"))


def test_every_mutant_loads_correctly_or_is_refused_naming_the_file(results):
    fuzzer, outcomes = results
    assert len(outcomes) == CASES
    failures = [r for r in outcomes if fuzzer.is_failure(r["outcome"])]
    assert not failures, fuzzer.summarise(outcomes)


def test_the_corpus_covers_every_format_and_both_outcomes(results):
    _fuzzer, outcomes = results
    formats = {r["fmt"] for r in outcomes}
    assert formats >= {"nifti", "nrrd", "metaimage", "dicom", "png", "jpeg", "tiff"}
    for fmt in formats:
        seen = {r["outcome"] for r in outcomes if r["fmt"] == fmt}
        assert "refused" in seen, fmt
    assert sum(r["outcome"] == "loaded" for r in outcomes) > CASES // 10


def test_the_hand_made_hostile_files_do_not_hang_the_metaimage_reader(tmp_path):
    from napari_medimg.io import ImageReadError, read

    path = tmp_path / "absurd_matrix.mha"
    path.write_bytes(
        b"ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nTransformMatrix = -1 0 0 0 -1 0 1e308 0 1\n"
        b"ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + bytes(8)
    )
    with pytest.raises(ImageReadError, match="absurd_matrix.mha.*not a direction matrix"):
        read(path)
