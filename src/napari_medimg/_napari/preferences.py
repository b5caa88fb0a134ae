"""napari's reader preference for the medical formats, set when the user asks.

napari's own reader also claims ``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``, ``.dcm`` (it
reads them through imageio, without their geometry), so File > Open and drag and drop
ask which plugin to use until a choice is remembered. The command *Open medical files
with napari-medimg* remembers that choice for every file pattern this plugin reads, as
the dialog's "remember" box would, one pattern at a time. Folders are left alone: a
preference for every folder would take zarr folders from napari's reader.
"""

from __future__ import annotations

from .manifest import PLUGIN, READ_PATTERNS

__all__ = ["prefer_medimg_reader"]


def prefer_medimg_reader() -> list[str]:
    """Make napari open the medical file patterns with this plugin, without a dialog.

    Patterns for which the user already chose another plugin than napari's own reader
    keep that choice.

    Returns
    -------
    list of str
        The patterns whose preference was set.
    """
    from napari.settings import get_settings
    from napari.utils.notifications import show_info

    plugins = get_settings().plugins
    current = dict(plugins.extension2reader)
    changed = [p for p in READ_PATTERNS if current.get(p) in (None, "napari", "builtins")]
    plugins.extension2reader = {**current, **{p: PLUGIN for p in changed}}
    show_info(
        f"napari opens {', '.join(READ_PATTERNS)} with napari-medimg from now on"
        if changed
        else "napari already opens the medical formats with napari-medimg (or a plugin you chose)"
    )
    return changed
