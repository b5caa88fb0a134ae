"""Recipes dock from napari's Recipes menu: the chest CT study on a CT opened as a user does, and its report."""

from __future__ import annotations

import numpy as np
from pypdf import PdfReader

from _widgets import open_widget, prefer_medimg_reader
from napari_medimg import read
from napari_medimg.pipeline import load_workflow


def test_chest_ct_study_from_the_menu_gives_the_python_result_and_a_report(make_napari_viewer, qtbot, shared_data,
                                                                           tmp_path):
    source = shared_data / "ct/totalseg_example/example_ct_sm.nii.gz"
    viewer = make_napari_viewer(show=True)  # the report's picture is napari's canvas
    prefer_medimg_reader()
    image = viewer.open(str(source), plugin=None)[0]
    dock = open_widget(viewer, "recipe")
    dock.recipe.value = "chest_ct_study"
    assert "emphysema" in dock.about.value
    dock.image_layer.value = image
    worker = dock.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    qtbot.wait(300)
    names = [layer.name for layer in viewer.layers]
    assert names[1:] == [f"{image.name} lungs", f"{image.name} nodules"], names
    lungs, nodules = viewer.layers[1], viewer.layers[2]
    assert type(lungs).__name__ == "Labels" and type(nodules).__name__ == "Points"
    assert "percent_below_-950_HU" in lungs.features and len(nodules.data) == len(nodules.features["diameter_mm"])
    assert "volume_ml" in dock.results.value and dock.progress_bar.value == 100
    # the same labels as the recipe run from Python, once saved back in the file's voxel order
    lungs.save(str(tmp_path / "lungs.nii.gz"))
    python = load_workflow("chest_ct_study").run(source).volumes["lungs"]
    np.testing.assert_array_equal(read(tmp_path / "lungs.nii.gz").array, python.array)
    dock.report_folder.value = tmp_path / "report"
    page = dock.save_report()
    assert page.is_file() and "Chest CT study" in page.read_text()
    assert (tmp_path / "report" / "lung_table.csv").read_text().startswith("label,")
    picture = read(tmp_path / "report" / "report.png")
    assert picture.rgb and np.ptp(picture.array) > 100  # napari's canvas, not a blank picture
    first = nodules.data_to_world(nodules.data[0])
    assert abs(viewer.dims.point[0] - first[0]) <= image.scale[0]  # on the best candidate's slice



def test_chest_xray_and_brain_tumour_recipes_from_the_menu(make_napari_viewer, qtbot, shared_data):
    viewer = make_napari_viewer()
    prefer_medimg_reader()
    dock = open_widget(viewer, "recipe")
    studies = {
        "chest_xray_study": (shared_data / "xray/cxr_lungs_covid/images/001.png", ("organs", "landmarks")),
        "brain_tumour_study": (shared_data / "mr/brats_tumour/brats_2013_pat0002_1/Flair_subtrMeanDivStd.nii.gz",
                               ("tumour",)),
    }
    for recipe, (source, made) in studies.items():
        viewer.layers.clear()
        image = viewer.open(str(source), plugin=None)[0]
        dock.recipe.value = recipe
        dock.image_layer.value = image
        worker = dock.start(start_thread=False)
        with qtbot.waitSignal(worker.finished, timeout=180_000):
            worker.start()
        qtbot.wait(200)
        assert [layer.name for layer in viewer.layers][1:] == [f"{image.name} {name}" for name in made], recipe
        labels = viewer.layers[1]
        assert type(labels).__name__ == "Labels" and labels.data.max() >= 1
        assert len(labels.features) == labels.data.max() + 1  # background row + one per object, from the table
    assert "original_glcm_Contrast" in viewer.layers[1].features and "volume_ml" in dock.results.value
    volume = float(viewer.layers[1].features["volume_ml"].iloc[1])
    assert 40 < volume < 95  # the expert whole tumour of this case is 63 mL (not the whole brain, 1585 mL)


def test_one_click_tumour_and_lesion_from_the_recipes_menu(make_napari_viewer, qtbot, shared_data):
    """A click on the darkest tumour voxel (FLAIR) and in a breast lesion (ultrasound), through the menus."""
    from scipy import ndimage

    def dice(a, b):
        return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))

    viewer = make_napari_viewer()
    prefer_medimg_reader()
    brats = shared_data / "mr/brats_tumour/brats_2013_pat0001_1"
    flair = viewer.open(str(brats / "Flair_subtrMeanDivStd.nii.gz"), plugin=None)[0]
    truth = np.asarray(viewer.open(str(brats / "OTMultiClass.nii.gz"), plugin=None)[0].data) > 0  # shown alike
    dark = np.unravel_index(np.argmin(np.where(truth, np.asarray(flair.data), np.inf)), truth.shape)
    us = read(shared_data / "ultrasound/busi_breast/images/benign_002.png")
    lesion = read(shared_data / "ultrasound/busi_breast/masks/benign_002.png").array > 0
    picture = viewer.add_image(us.array, name="breast")
    inside = np.unravel_index(np.argmax(ndimage.distance_transform_edt(lesion)), lesion.shape)
    for key, image, click, reference, measured in (
        ("brain_tumour_from_click", flair, dark, truth, 0.865),
        ("breast_lesion_from_click", picture, inside, lesion, 0.891),  # the click-guided U-Net
    ):
        points = viewer.add_points([image.data_to_world(click)], name=f"{key} click")
        widget = open_widget(viewer, key)
        widget.input_layer.value = image
        widget.parameter_widgets["seeds"].value = points
        worker = widget.start(start_thread=False)
        with qtbot.waitSignal(worker.finished, timeout=120_000):
            worker.start()
        result = np.asarray(viewer.layers[-1].data) > 0
        assert type(viewer.layers[-1]).__name__ == "Labels" and abs(dice(result, reference) - measured) < 0.02, key


def test_breast_ultrasound_recipe_takes_a_click_from_a_points_layer(make_napari_viewer, qtbot, shared_data, tmp_path):
    from scipy import ndimage

    folder = shared_data / "ultrasound/busi_breast"
    mask = read(folder / "masks/benign_002.png").array > 0
    viewer = make_napari_viewer()
    image = viewer.open(str(folder / "images/benign_002.png"), plugin=None)[0]
    dock = open_widget(viewer, "recipe")
    dock.recipe.value = "breast_ultrasound_study"
    assert [w.name for w in dock.inputs] == ["seeds"] and not dock.inputs.native.isHidden()
    dock.image_layer.value = image
    click = viewer.add_points(np.empty((0, 2)), name="click")
    dock.inputs.seeds.value = click
    assert dock.start(start_thread=False) is None and "place a point in click" in dock.status.value
    deepest = np.unravel_index(np.argmax(ndimage.distance_transform_edt(mask)), mask.shape)
    click.add(image.data_to_world(np.asarray(deepest, float)))
    worker = dock.start(start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        worker.start()
    lesion = viewer.layers[f"{image.name} lesion"]
    found = np.asarray(lesion.data) > 0
    assert 2 * (found & mask).sum() / (found.sum() + mask.sum()) > 0.85  # measured 0.89 (the U-Net)
    assert "maximum_diameter_mm" in lesion.features and "area_mm2" in dock.results.value
    dock.report_folder.value = tmp_path / "report"
    page = dock.save_report().read_text()
    assert "Breast ultrasound study" in page and "1 mm per pixel is assumed" in page
    pdf = PdfReader(tmp_path / "report" / "report.pdf")  # the same page, with napari's picture
    assert "1 mm per pixel is assumed" in " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert len(pdf.pages[0].images) == 1
    # another recipe takes no click: the picker goes
    dock.recipe.value = "chest_xray_study"
    assert len(dock.inputs) == 0 and dock.inputs.native.isHidden()
