"""Image processing on numpy arrays with physical spacing (no napari, Qt or torch)."""
