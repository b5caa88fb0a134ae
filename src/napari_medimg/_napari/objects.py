"""Many objects in one labels layer: each interactive run adds its objects under new ids.

A user segmenting five organs with region growing (or any labels-making operation)
wants one labels layer with five objects, not five layers. :func:`add_objects` writes a
run's objects into a chosen labels layer under the next free label ids. Earlier objects
are never overwritten unless asked (``paint_over``), and the whole run is one entry of
the layer's own undo history, so napari's undo (Ctrl+Z, or ``layer.undo()``) takes back
the last run only, with everything before it intact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["add_objects"]


def add_objects(layer: Any, labels: np.ndarray, *, paint_over: bool = False) -> list[int]:
    """Write the objects of ``labels`` into a napari Labels layer under new ids.

    Parameters
    ----------
    layer : napari.layers.Labels
        The layer receiving the objects; its data must be a numpy array on the same
        grid (shape) as ``labels``.
    labels : numpy.ndarray
        A mask or labels array; each non-zero value is one object.
    paint_over : bool
        Let the new objects replace earlier ones where they overlap; by default a new
        object only takes voxels that are still 0 in the layer.

    Returns
    -------
    list of int
        The consecutive ids given to the objects, in the order of their values in
        ``labels`` (an object lying entirely under earlier ones gets none; empty when
        nothing was written).

    Raises
    ------
    ValueError
        When the grids differ, or the new ids would not fit the layer's dtype.
    """
    data = layer.data
    labels = np.asarray(labels)
    if not isinstance(data, np.ndarray):
        raise ValueError(f"labels layer '{layer.name}' is not held in memory; add the objects to a new layer instead")
    if labels.shape != data.shape:
        raise ValueError(
            f"labels layer '{layer.name}' has shape {data.shape} but the result {labels.shape}: choose a labels "
            "layer on the input image's grid (or a new layer)"
        )
    where = labels != 0
    if not paint_over:
        where &= data == 0
    indices = np.nonzero(where)
    values, inverse = np.unique(labels[indices], return_inverse=True)
    if values.size == 0:
        return []
    first = int(data.max(initial=0)) + 1
    last = first + values.size - 1
    if np.issubdtype(data.dtype, np.integer) and last > np.iinfo(data.dtype).max:
        raise ValueError(
            f"labels layer '{layer.name}' ({data.dtype}) has no room for {values.size} more object(s) after id "
            f"{first - 1}; add them to a new layer"
        )
    layer.data_setitem(indices, (first + inverse).astype(data.dtype))  # one undo entry for the whole run
    return list(range(first, last + 1))
