"""Laplacian of Gaussian identical, bit for bit, to SimpleITK's -- only faster.

pyradiomics derives its ``LoG`` images (``radiomics.imageoperations.getLoGImage``)
with ``sitk.LaplacianRecursiveGaussianImageFilter``, ``SetNormalizeAcrossScale(True)``
and ``SetSigma(sigma)`` (mm), on the image it has loaded and usually normalized
(``sitk.Normalize`` makes it 64-bit float; un-normalized it keeps the file's
type).  Whatever the input's scalar type, SimpleITK returns a 32-bit float image.
:func:`laplacian_of_gaussian` returns the very same image, computed by the C kernel
``frd._log``.

What the kernel reproduces (ITK 5.4, ``itkLaplacianRecursiveGaussianImageFilter``,
``itkRecursiveGaussianImageFilter``, ``itkRecursiveSeparableImageFilter``):

* the coefficients: Deriche's 4th-order fit, computed in double from
  ``sigma / spacing[d]`` with libm's ``sin``/``cos``/``exp`` and ITK's exact
  expression order -- the shared denominator terms, the numerators, the unit-gain
  scale ``1/alpha0`` of the Gaussian, the ``beta`` mix and ``sigma**2 / alpha2``
  normalisation of the second derivative, the anti-causal ``M`` terms and the
  ``BN``/``BM`` start-up terms that treat the edge sample as repeating forever;
* each recursive pass: every line is widened to double, filtered causally and
  anti-causally with ITK's grouping ``((a*b + c*d) + e*f) + g*h`` (no fused
  multiply-add), the halves added in double and the sum rounded to float, since
  the intermediate images of the filter are 32-bit float;
* the pipeline: for ITK dimension d = x, y(, z): second derivative along d, then
  the Gaussian along each other dimension in increasing order; the result is
  added into a float running sum as ``(float)(sum + (double)t * (1.0 / sp_d**2))``
  starting from zeros (so ``-0.0`` becomes ``+0.0`` as in ITK);
* the output: float32 pixels with the input's origin, spacing and direction
  (ITK copies no metadata dictionary, neither do we).

Threads change nothing in ITK (lines are only distributed among them), so the
single-threaded kernel gives the same bits whatever SimpleITK's thread count.

The kernel covers 2-D and 3-D scalar images of any real pixel type (integers are
widened to double, exactly as ITK's ``static_cast<double>``), at least 4 pixels
along every axis, finite ``sigma > 0`` and finite spacings >= 1e-8.  Anything
else -- including the single-slice (1, H, W) volumes of 2-D inputs, on which ITK
raises "less than 4 pixels" -- goes to SimpleITK itself, so errors are SimpleITK's
errors too.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from .imageio import INTEGER_PIXEL_TYPES

try:
    from . import _log
except ImportError:  # a source tree that was never built: SimpleITK computes
    _log = None

__all__ = ["LaplacianFilter", "laplacian_of_gaussian", "kernel_covers"]

# scalar pixel types the kernel reads directly, or after an exact widening
_DIRECT = {sitk.sitkFloat32, sitk.sitkFloat64}
_WIDEN = INTEGER_PIXEL_TYPES


def kernel_covers(image: sitk.Image, sigma: float) -> bool:
    """True when :func:`laplacian_of_gaussian` computes ``image`` with the C kernel."""
    if _log is None or image.GetDimension() not in (2, 3):
        return False
    if image.GetPixelID() not in _DIRECT and image.GetPixelID() not in _WIDEN:
        return False
    if min(image.GetSize()) < 4:
        return False
    if not (math.isfinite(sigma) and sigma > 0.0):
        return False
    return all(math.isfinite(s) and s >= 1e-8 for s in image.GetSpacing())


def laplacian_of_gaussian(image: sitk.Image, sigma: float, normalize_across_scale: bool = True) -> sitk.Image:
    """``sitk.LaplacianRecursiveGaussian(image, sigma, normalize_across_scale)``, bit for bit.

    pyradiomics always passes ``normalize_across_scale=True``.
    """
    sigma = float(sigma)
    if not kernel_covers(image, sigma):
        return sitk.LaplacianRecursiveGaussian(image, sigma, bool(normalize_across_scale))
    source = sitk.GetArrayViewFromImage(image)
    if image.GetPixelID() in _WIDEN:
        source = source.astype(np.float64)
    source = np.ascontiguousarray(source)
    out = np.empty(source.shape, dtype=np.float32)
    _log.laplacian(source, out, tuple(image.GetSpacing()), sigma, bool(normalize_across_scale))
    result = sitk.GetImageFromArray(out, isVector=False)
    result.CopyInformation(image)
    return result


class LaplacianFilter:
    """``SimpleITK.LaplacianRecursiveGaussianImageFilter`` for pyradiomics' ``getLoGImage``
    (it holds a real one for the settings): ``Execute`` is :func:`laplacian_of_gaussian`."""

    def __init__(self):
        self._itk = sitk.LaplacianRecursiveGaussianImageFilter()

    def __getattr__(self, name):  # the setters and getters pyradiomics calls
        return getattr(self._itk, name)

    def Execute(self, image: sitk.Image) -> sitk.Image:
        return laplacian_of_gaussian(image, self._itk.GetSigma(), self._itk.GetNormalizeAcrossScale())
