"""Every contribution of napari.yaml, reached the way napari reaches it.

Widgets open through napari's app-model commands (what the Layers and Plugins menus
run) and through ``viewer.window.add_plugin_dock_widget``; the manifest is enumerated,
so a widget added later is covered without being listed here.
"""

from __future__ import annotations

import warnings

import pytest

from napari_medimg._napari.manifest import PLUGIN, build_manifest

CONTRIBUTIONS = build_manifest()["contributions"]
WIDGETS = CONTRIBUTIONS["widgets"]


def _menu_commands() -> set[str]:
    return {item["command"] for items in CONTRIBUTIONS["menus"].values() for item in items if "command" in item}


def test_gui_runs_on_the_requested_qt_binding():
    import os

    import qtpy

    assert qtpy.API_NAME.lower() == os.environ.get("QT_API", "pyqt6").lower()


def test_menus_are_grouped_without_repeated_prefixes_or_doubled_units():
    from napari_medimg.operations import OPERATIONS

    labels = {s["id"]: s["label"] for s in CONTRIBUTIONS["submenus"]}
    for submenu, items in CONTRIBUTIONS["menus"].items():
        titles = [w["display_name"] for w in WIDGETS if w["command"] in {i.get("command") for i in items}]
        if submenu in labels and len(titles) > 1:
            first_words = {t.split()[0].rstrip(":") for t in titles}
            assert len(first_words) > 1 or len(titles) < 3, f"{labels[submenu]}: repeated prefix in {titles}"
    for op in OPERATIONS:
        for parameter in op.parameters:
            if parameter.unit:
                assert parameter.label.count(parameter.unit) == 1, parameter.label


def test_every_widget_is_in_a_menu():
    in_menus = _menu_commands()
    assert [w["command"] for w in WIDGETS if w["command"] not in in_menus] == []
    names = [w["display_name"] for w in WIDGETS]
    assert len(names) == len(set(names)), "two widgets share a menu name"


@pytest.mark.parametrize("widget", WIDGETS, ids=[w["command"].split(".", 1)[1] for w in WIDGETS])
def test_widget_opens_from_its_menu_command(make_napari_viewer, widget):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "brain_mr")
    app = get_app_model()
    # the menu entries napari built from the manifest point at this command
    menu_ids = [m for m, items in CONTRIBUTIONS["menus"].items() if any(i.get("command") == widget["command"] for i in items)]
    for menu_id in menu_ids:
        assert widget["command"] in {getattr(item, "command", None) and item.command.id for item in app.menus.get_menu(menu_id)}
        if not menu_id.startswith("napari/"):  # our submenu: it hangs in one of napari's menus
            parents = [m for m, items in CONTRIBUTIONS["menus"].items() if any(i.get("submenu") == menu_id for i in items)]
            assert parents and all(
                menu_id in {getattr(item, "submenu", None) for item in app.menus.get_menu(parent)} for parent in parents
            )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Private attribute access")
        app.commands.execute_command(widget["command"]).result()
    docked = [name for name in viewer.window.dock_widgets if widget["display_name"] in name]
    assert docked, f"{widget['display_name']} did not dock; docks: {list(viewer.window.dock_widgets)}"
    # the other way napari offers: by plugin and widget name
    _, inner = viewer.window.add_plugin_dock_widget(PLUGIN, widget["display_name"])
    assert type(inner) is type(viewer.window.dock_widgets[docked[0]])


def test_every_widget_opens_from_its_menu_in_one_session(make_napari_viewer):
    """All widgets docked in one viewer, as a user opening one tool after another."""
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "chest_ct")
    app = get_app_model()
    for widget in WIDGETS:
        app.commands.execute_command(widget["command"]).result()
    docked = set(viewer.window.dock_widgets)
    missing = [w["display_name"] for w in WIDGETS if not any(w["display_name"] in name for name in docked)]
    assert missing == []


def test_medical_files_open_without_a_reader_dialog_and_labels_come_back_as_labels(make_napari_viewer, shared_data, tmp_path):
    import numpy as np
    import SimpleITK as sitk
    from napari.errors import MultipleReaderError

    from _widgets import prefer_medimg_reader

    viewer = make_napari_viewer()
    path = shared_data / "mr/pyradiomics/brain1_image.nrrd"
    # napari's own reader claims .nrrd too: File > Open (plugin=None) asks which to use ...
    with pytest.raises(MultipleReaderError):
        viewer.open(path, plugin=None)
    prefer_medimg_reader()  # ... until the plugin's command remembers the choice
    (image,) = viewer.open(path, plugin=None)
    assert "medimg" in image.metadata
    labels = viewer.add_labels(np.zeros(image.data.shape, np.uint8), scale=image.scale, translate=image.translate)
    labels.data[5, 100:110, 100:120] = 2
    out = tmp_path / "tumour.nii.gz"  # no "label" in the name: the header says so
    viewer.layers.selection.active = labels
    viewer.layers.save(str(out), selected=True)  # File > Save Selected Layers, default writer
    written = sitk.ReadImage(str(out))
    source = sitk.ReadImage(str(path))
    assert written.GetSize() == source.GetSize()
    np.testing.assert_allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), source.GetDirection(), atol=1e-6)
    assert sitk.GetArrayViewFromImage(written).sum() == 2 * 200
    (back,) = viewer.open(out, plugin=None)
    assert back.__class__.__name__ == "Labels"
    np.testing.assert_array_equal(back.data, labels.data)
    # the image itself saved to .nii.gz reopens as an image
    viewer.layers.selection.active = image
    viewer.layers.save(str(tmp_path / "image.nii.gz"), selected=True)
    (again,) = viewer.open(tmp_path / "image.nii.gz", plugin=None)
    assert again.__class__.__name__ == "Image"
