"""A shipped model from napari's menus: Layers > Classify > Learned models > Segment with a shipped model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from _widgets import open_widget  # noqa: E402

from napari_medimg._napari.label_names import NAME  # noqa: E402


def test_busi_lesion_model_segments_an_ultrasound_image_into_named_labels(make_napari_viewer, qtbot, shared_data):
    viewer = make_napari_viewer()
    image_path = shared_data / "ultrasound/busi_breast/images/malignant_001.png"
    (image,) = viewer.open(str(image_path))  # a picture: napari's own reader, as a user gets it
    widget = open_widget(viewer, "segment_with_model")
    widget.input_layer.value = image
    widget.parameter_widgets["model"].value = "busi-lesion"
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    result = viewer.layers[-1]
    assert type(result).__name__ == "Labels" and result.data.shape == image.data.shape[:2]
    np.testing.assert_allclose(result.scale, image.scale[:2])
    np.testing.assert_allclose(result.translate, image.translate[:2])
    names = dict(zip(result.features["index"], result.features[NAME]))
    assert names[1] == "lesion" and "volume_ml" in result.features
    from skimage import io

    truth = io.imread(shared_data / "ultrasound/busi_breast/masks/malignant_001.png") > 0
    pred = np.asarray(result.data) == 1
    # a development image of the model (its cross-validated figure is in its card): a wiring check
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > 0.7


def test_chest_landmarks_land_on_a_flipped_scaled_translated_radiograph(make_napari_viewer, qtbot, shared_data,
                                                                        tmp_path):
    """Recipes > Landmarks and cardiothoracic ratio (chest X-ray): a Points layer in world mm, names and confidences in its features.

    The radiograph is written as a MetaImage with 0.4 x 0.7 mm pixels, an origin and its columns
    running right to left (a flipped direction), and opened with File > Open."""
    import SimpleITK as sitk
    from skimage import io

    from _widgets import prefer_medimg_reader
    from napari_medimg.apps.chest_xray_landmarks import LANDMARKS, cardiothoracic_ratio, landmarks_from_labels

    root = shared_data / "xray/cxr_lungs_covid"
    pixels = io.imread(root / "images/001.png")
    image = sitk.GetImageFromArray(pixels)
    image.SetSpacing((0.7, 0.4))  # x (columns), y (rows)
    image.SetOrigin((-30.0, 12.5))
    image.SetDirection((-1.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(tmp_path / "cxr.mha"))
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    (layer,) = viewer.open(tmp_path / "cxr.mha", plugin=None)  # as File > Open
    widget = open_widget(viewer, "chest_xray_landmarks")
    widget.input_layer.value = layer
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    points = viewer.layers[-1]
    assert type(points).__name__ == "Points" and len(points.data) == len(LANDMARKS)
    assert list(points.features["landmark"]) == list(LANDMARKS)
    assert ((points.features["confidence"] > 0) & (points.features["confidence"] <= 1)).all()
    # each point is its pixel index mapped through the layer's own transform (flip, scale, origin)
    index = points.features[["row", "col"]].to_numpy()
    np.testing.assert_allclose(points.data, [layer.data_to_world(i) for i in index], atol=1e-6)
    # and it sits where the landmark is on the picture (this radiograph is a development image of
    # the detector: a wiring check; its cross-validated errors are in its card)
    shown = np.asarray(layer.data)
    truth = landmarks_from_labels(io.imread(root / "labels/001.png"))
    if not np.array_equal(shown, pixels):  # the reader showed it mirrored in patient orientation
        assert np.array_equal(shown, pixels[:, ::-1])
        truth[:, 1] = pixels.shape[1] - 1 - truth[:, 1]
        truth[[4, 5, 6, 7, 0, 1, 2, 3]] = truth[[5, 4, 7, 6, 1, 0, 3, 2]]  # mirrored: right and left swap places
    errors = np.hypot(*(index - truth).T)
    assert np.all(errors[:4] < 25), errors  # lung apices and costophrenic angles: well defined
    # the heart borders of these masks are not (the heart region spreads along the diaphragm; see
    # the card): the ratio is only checked to lie in the range the masks give (0.14-0.60)
    assert 0.1 < points.features["cardiothoracic_ratio"].iloc[0] < 0.65
    assert np.isfinite(cardiothoracic_ratio(truth))


def test_brain_tumour_centres_from_the_recipes_menu_as_points_in_world_mm(make_napari_viewer, qtbot, shared_data):
    """Recipes > Brain tumour centres (MR FLAIR) on a FLAIR opened with File > Open: the largest
    tumour first, drawn at its size, its features in mm and mL, on the expert tumour's centre (a
    development case of the model: a wiring check; leave-one-case-out figures in
    scripts/results/tumour_centres.json)."""
    from scipy import ndimage

    from _widgets import prefer_medimg_reader
    from napari_medimg import read

    viewer = make_napari_viewer()
    prefer_medimg_reader()
    folder = shared_data / "mr/brats_tumour/brats_2013_pat0003_1"
    (layer,) = viewer.open(folder / "Flair_subtrMeanDivStd.nii.gz", plugin=None)
    widget = open_widget(viewer, "brain_tumour_centres")
    widget.input_layer.value = layer
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=180_000):
        worker.start()
    points = viewer.layers[-1]
    assert type(points).__name__ == "Points" and list(points.features["rank"]) == list(range(1, len(points.data) + 1))
    assert (points.features["class"] == "whole tumour").all()
    index = points.features[["z", "row", "col"]].to_numpy()
    np.testing.assert_allclose(points.data, [layer.data_to_world(i) for i in index], atol=1e-6)
    truth = read(folder / "OTMultiClass.nii.gz").array > 0
    pieces, _ = ndimage.label(truth, structure=np.ones((3, 3, 3)))
    largest = pieces == np.argmax(np.bincount(pieces.ravel())[1:]) + 1
    centre = np.array(ndimage.center_of_mass(largest))
    assert np.linalg.norm((index[0] - centre) * np.asarray(layer.scale)) < 5.0
    assert points.features["volume_ml"].iloc[0] > 50 and 0 < points.features["confidence"].iloc[0] <= 1


def test_slice_classifier_dock_lists_the_tumour_slices_and_shows_the_most_likely(make_napari_viewer, qtbot,
                                                                                 shared_data):
    """Layers > Classify > Learned models > Classify slices of a volume (CNN + GRU) on a FLAIR opened
    with File > Open: a row per axial slice, the tumour slices found (a development case of the model:
    a wiring check), and the viewer moved to the most likely slice."""
    from _widgets import prefer_medimg_reader
    from napari_medimg.learn.sequence import f1_score, slice_targets

    viewer = make_napari_viewer()
    prefer_medimg_reader()
    folder = shared_data / "mr/brats_tumour/brats_2013_pat0002_1"
    (layer,) = viewer.open(folder / "Flair_subtrMeanDivStd.nii.gz", plugin=None)
    widget = open_widget(viewer, "classify_slices")
    assert widget.model.value == "brain-tumour-slices" and "F1" in widget.card_info.value
    widget.image_layer.value = layer
    worker = widget.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    table = widget.table.value
    assert len(table["data"]) == layer.data.shape[widget.result.axis] and "tumour" in widget.summary.value
    (expert,) = viewer.open(folder / "OTMultiClass.nii.gz", plugin=None)  # on the same displayed grid
    truth = slice_targets(np.asarray(expert.data))
    assert widget.result.axis == 0  # axial slices are the displayed volume's first axis
    assert f1_score(truth, widget.result.classes) > 0.8
    widget.go_to_most_likely()
    best = int(np.argmax(widget.result.probabilities[:, 1]))
    assert truth[best] == 1
    assert viewer.dims.point[0] == pytest.approx(layer.data_to_world([best, 0, 0])[0])
