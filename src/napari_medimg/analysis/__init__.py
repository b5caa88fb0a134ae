"""Measurements on images and masks: radiomics features (see :mod:`napari_medimg.analysis.radiomics`)."""
