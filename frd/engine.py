"""Extraction engines: the same pyradiomics feature values, with less repeated work.

* ``pyradiomics`` — plain ``RadiomicsFeatureExtractor``: the reference path.
* ``frd`` (default) — a subclass of it that bins each filtered image once and shares the
  result among all feature classes (pyradiomics bins the same image again in every
  class, and finds the bin edges with Python's built-in ``min``/``max`` over a numpy
  array). Every feature class is pyradiomics' own; only where the binned image comes from
  differs, and the binning arithmetic is pyradiomics', so the values are bit-identical
  (``tests/test_engine.py`` compares them feature by feature).

Nothing is patched inside pyradiomics: the engine is selected per extractor.
"""

from __future__ import annotations

import threading

import numpy as np
from radiomics import featureextractor, getFeatureClasses, imageoperations

ENGINES = ("frd", "pyradiomics")
# The pyradiomics release whose binning this engine reproduces (frd.featureset keys the
# cache on the installed version, and the parity tests run against it).
MIRRORS_PYRADIOMICS = "3.1"

_call = threading.local()  # the binning shared within one computeFeatures call


def bin_edges(values: np.ndarray, bin_width: float) -> np.ndarray:
    """pyradiomics' fixed-bin-width edges (imageoperations.getBinEdges), with numpy min/max."""
    if np.isnan(values).any():  # built-in min/max order NaNs differently: keep theirs
        minimum, maximum = min(values), max(values)
    else:
        minimum, maximum = values.min(), values.max()
    low = minimum - (minimum % bin_width)
    edges = np.arange(low, maximum + 2 * bin_width, bin_width)
    if len(edges) == 1:  # a flat region: one bin, as numpy.histogram would give
        edges = [edges[0] - 0.5, edges[0] + 0.5]
    return edges


def bin_image(matrix: np.ndarray, mask: np.ndarray, settings: dict) -> np.ndarray:
    """pyradiomics' binImage for a segmentation mask."""
    if settings.get("binCount") is not None:
        return imageoperations.binImage(matrix, mask, **settings)[0]
    binned = np.zeros(matrix.shape, dtype="int")
    values = matrix[mask]
    binned[mask] = np.digitize(values, bin_edges(values, settings.get("binWidth", 25)))
    return binned


class _SharedBinning:
    """Mixin for pyradiomics feature classes: binning computed once per filtered image."""

    def _applyBinning(self, matrix):
        shared = getattr(_call, "shared", None)
        if shared is None:  # used outside FastExtractor: pyradiomics' own behaviour
            return super()._applyBinning(matrix)
        if "binned" not in shared:
            binned = bin_image(matrix, self.maskArray, self.settings)
            shared["binned"] = (binned, np.unique(binned[self.maskArray]))
        binned, grey_levels = shared["binned"]
        self.coefficients["grayLevels"] = grey_levels.copy()
        self.coefficients["Ng"] = int(np.max(grey_levels))
        return binned.copy()  # classes may modify their array


_CLASSES = {name: type(f"Shared{cls.__name__}", (_SharedBinning, cls), {})
            for name, cls in getFeatureClasses().items()}


class FastExtractor(featureextractor.RadiomicsFeatureExtractor):
    """RadiomicsFeatureExtractor whose feature classes share one binning per image."""

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        vector = {}
        _call.shared = {}
        try:
            for class_name, feature_names in self.enabledFeatures.items():
                if class_name.startswith("shape") or class_name not in _CLASSES:
                    continue  # shape features are computed by execute(), as upstream
                feature_class = _CLASSES[class_name](image, mask, **kwargs)
                if feature_names is not None:
                    for feature in feature_names:
                        feature_class.enableFeatureByName(feature)
                for name, value in feature_class.execute().items():
                    vector[f"{imageTypeName}_{class_name}_{name}"] = value
        finally:
            _call.shared = None
        return vector


def extractor_class(engine: str):
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return FastExtractor if engine == "frd" else featureextractor.RadiomicsFeatureExtractor
