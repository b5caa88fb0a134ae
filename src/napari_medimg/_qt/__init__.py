"""Qt widgets and the worker / progress / cancel bridge. Imported only by the napari manifest."""
