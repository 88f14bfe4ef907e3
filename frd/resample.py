"""pyradiomics' resampling with ITK's cubic B-spline values, computed by the compiled kernel.

pyradiomics' ``resampleImage`` builds a ``SimpleITK.ResampleImageFilter`` for the image
(cubic B-spline by default) and one for the mask (nearest neighbour). ITK spends most of a
2D image's preparation in the first: for each output point it allocates a weights matrix
and visits 64 neighbours through N-dimensional index bookkeeping. ``frd/_resample.c``
computes the same values — ITK 5.4's arithmetic, operation for operation, documented
there — without that overhead.

:class:`ResampleFilter` has the filter's interface (it holds a real one for the settings);
``Execute`` runs the kernel for what pyradiomics resamples with the B-spline — a scalar
float64 3D image (2D images are single-slice volumes by then), identity transform, default
value 0, float64 output, no dimension of exactly two voxels — and passes anything else to
ITK. The matrices that map output
indices to physical points and physical points to input indices are read from SimpleITK
itself (unit vectors through images of the same spacing and direction at the origin), so
they are ITK's to the bit, including the inverse ITK computes by SVD.
``tests/test_resample.py`` compares the values with ``SimpleITK`` bit for bit.
"""

from __future__ import annotations

import functools

import numpy as np
import SimpleITK as sitk

try:
    from . import _resample
except ImportError:  # a source tree that was never built: ITK resamples
    _resample = None


@functools.lru_cache(maxsize=64)
def _matrices(spacing: tuple, direction: tuple) -> tuple[np.ndarray, np.ndarray]:
    """ITK's index-to-physical and physical-to-index matrices of an image geometry."""
    probe = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    probe.SetSpacing(spacing)
    probe.SetDirection(direction)
    units = [tuple(float(i == j) for i in range(3)) for j in range(3)]
    to_physical = np.array([probe.TransformIndexToPhysicalPoint([int(u) for u in unit]) for unit in units]).T
    to_index = np.array([probe.TransformPhysicalPointToContinuousIndex(unit) for unit in units]).T
    return np.ascontiguousarray(to_physical), np.ascontiguousarray(to_index)


class ResampleFilter:
    """``SimpleITK.ResampleImageFilter`` for pyradiomics' ``resampleImage``: the kernel for
    the cubic B-spline of a float64 volume, ITK for everything else."""

    def __init__(self):
        self._itk = sitk.ResampleImageFilter()

    def __getattr__(self, name):  # the setters and getters pyradiomics calls
        return getattr(self._itk, name)

    def _fits_kernel(self, image: sitk.Image) -> bool:
        f = self._itk
        transform = f.GetTransform()
        return (
            _resample is not None
            and f.GetInterpolator() == sitk.sitkBSpline
            and image.GetDimension() == 3
            # ITK mirrors a support index once at each end: along a dimension of 2 voxels it
            # can still fall outside and ITK reads beyond the line (undefined); ITK's own
            # result is kept there.
            and 2 not in image.GetSize()
            and image.GetPixelID() == sitk.sitkFloat64
            and f.GetOutputPixelType() in (sitk.sitkFloat64, sitk.sitkUnknown)
            and f.GetDefaultPixelValue() == 0.0
            and not f.GetUseNearestNeighborExtrapolator()
            and transform.GetName() in ("IdentityTransform", "Transform")
            and transform.GetParameters() == ()
        )

    def Execute(self, image: sitk.Image) -> sitk.Image:
        if not self._fits_kernel(image):
            return self._itk.Execute(image)
        f = self._itk
        size = tuple(int(n) for n in f.GetSize())
        origin, spacing, direction = f.GetOutputOrigin(), f.GetOutputSpacing(), f.GetOutputDirection()
        to_physical, _ = _matrices(tuple(spacing), tuple(direction))
        _, to_index = _matrices(tuple(image.GetSpacing()), tuple(image.GetDirection()))
        coefficients = np.array(sitk.GetArrayViewFromImage(image), dtype=np.float64, order="C")  # a copy
        out = np.empty(size[::-1], dtype=np.float64)
        _resample.bspline(
            coefficients,
            coefficients.shape,
            out,
            out.shape,
            np.asarray(origin, dtype=np.float64),
            to_physical,
            np.asarray(image.GetOrigin(), dtype=np.float64),
            to_index,
        )
        result = sitk.GetImageFromArray(out)
        result.SetOrigin(origin)
        result.SetSpacing(spacing)
        result.SetDirection(direction)
        return result
