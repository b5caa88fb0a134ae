"""napari adapters: layers <-> Volume, reader, writer, sample data (no Qt)."""
