"""pyradiomics' wavelet filter with PyWavelets' values, computed by the compiled kernel.

pyradiomics' ``getWaveletImage`` (through ``_swt3``) pads the image with ``np.pad(...,
'wrap')`` to even sizes, calls ``pywt.swtn(data, wavelet, level=1, start_level=0,
axes=...)`` once per level and crops the results. :func:`swtn` is a drop-in replacement
for ``pywt.swtn`` that returns the same structure (a list of dicts, last level first, keys
in PyWavelets' order: ``'aaa', 'aad', 'ada', ...`` for three axes; with ``trim_approx``
the final approximation first) with the same values, bit for bit.

What is reproduced (PyWavelets 1.8/1.9, ``pywt/_extensions/_swt.pyx`` ``swt_axis`` and
the C routines ``downcoef_axis`` → ``swt_a``/``swt_d`` → ``swt_`` →
``downsampling_convolution_periodization`` with ``step = 1``):

- the axes are transformed in the order given, every sub-band of the previous axis in
  turn, each giving its approximation (``dec_lo``) and its detail (``dec_hi``) sub-band;
  level ``i`` (counted from 0 from ``start_level`` on) uses the filters upsampled by
  ``2**i``, zeros in between, and the next level starts from the all-``a`` sub-band;
- each value is PyWavelets' periodised convolution with its summation order, which is
  not tap order near the end of a line (``frd/_wavelet.c`` documents it), starting from
  +0.0, one rounded product at a time (PyWavelets' wheels contain no fused multiply-add;
  the kernel is compiled with ``-ffp-contract=off``), zero taps included where PyWavelets
  multiplies them (levels above the first), so signed zeros, infinities and NaNs come
  out as PyWavelets gives them;
- the filters are the wavelet's own ``dec_lo``/``dec_hi`` doubles (any discrete
  wavelet: orthogonal or biorthogonal, built-in or custom, one per axis if a tuple is
  given; with ``norm=True`` the rescaled filter bank PyWavelets itself builds);
- dtypes as in PyWavelets: float64 input is used as it is, integer and bool input is
  converted to float64 first; the outputs are new C-contiguous float64 arrays.

The kernel covers float64 (and integer) data of at least one dimension, ``level >= 1``,
``start_level >= 0``, a non-empty set of distinct axes each of a length that is a
positive multiple of ``2**(start_level + level)``, and no empty array. Everything else —
float32/float16 and complex data (PyWavelets computes those in single precision or per
part), lengths PyWavelets rejects (odd lengths, a length of 1 on a transformed axis: it
raises ``ValueError``), bad axes or wavelets — goes to ``pywt.swtn`` itself, so errors and
warnings are PyWavelets' own. Axes that are not transformed may have any length
(pyradiomics' 2D images are ``(1, H, W)`` volumes transformed along axes ``(2, 1)``).

``tests/test_wavelet.py`` compares the values with ``pywt.swtn`` bit for bit.
"""

from __future__ import annotations

import operator

import numpy as np
import pywt

try:
    from . import _wavelet
except ImportError:  # a source tree that was never built: PyWavelets computes
    _wavelet = None

try:  # PyWavelets' own helpers, so that wavelets and norm=True are read exactly as it does
    from pywt._extensions._pywt import _check_dtype
    from pywt._swt import _rescale_wavelet_filterbank
    from pywt._utils import _wavelets_per_axis
except ImportError:  # a PyWavelets without them: it computes everything itself
    _check_dtype = _rescale_wavelet_filterbank = _wavelets_per_axis = None

__all__ = ["swtn", "covered"]

# Bound once, so that the fallback still reaches PyWavelets when pywt.swtn itself has been
# replaced by :func:`swtn` (as a caller hooking the kernel into pyradiomics would do).
_pywt_swtn = pywt.swtn


def _plan(data, wavelet, level, start_level, axes, norm):
    """(float64 data, axes, per-axis filters) when the kernel covers the call, else None."""
    if _wavelet is None or _wavelets_per_axis is None:
        return None
    try:
        level = operator.index(level)
        start_level = operator.index(start_level)
    except TypeError:
        return None
    if level < 1 or start_level < 0 or start_level + level > 62:
        return None
    data = np.asarray(data)
    if data.ndim < 1 or data.size == 0 or data.dtype == np.dtype(object):
        return None
    if np.iscomplexobj(data) or _check_dtype(data) != np.float64:
        return None
    if axes is None:
        axes = range(data.ndim)
    try:
        axes = [operator.index(a) for a in axes]
    except TypeError:
        return None
    axes = [a + data.ndim if a < 0 else a for a in axes]
    if not axes or len(set(axes)) != len(axes) or any(a < 0 or a >= data.ndim for a in axes):
        return None
    multiple = 1 << (start_level + level)
    if any(data.shape[a] % multiple for a in axes):
        return None
    try:
        wavelets = _wavelets_per_axis(wavelet, axes)
        if norm:
            if not all(w.orthogonal for w in wavelets):
                return None  # PyWavelets warns; let it
            wavelets = [_rescale_wavelet_filterbank(w, 1 / np.sqrt(2)) for w in wavelets]
        filters = []
        for w in wavelets:
            lo = np.asarray(w.dec_lo, dtype=np.float64)
            hi = np.asarray(w.dec_hi, dtype=np.float64)
            if lo.ndim != 1 or lo.shape != hi.shape or lo.size < 1:
                return None
            filters.append((lo, hi))
    except Exception:  # not a discrete wavelet: PyWavelets raises its own error
        return None
    data = np.ascontiguousarray(data, dtype=np.float64)
    return data, axes, filters


def covered(data, wavelet, level, start_level=0, axes=None, norm=False) -> bool:
    """Whether :func:`swtn` computes this call with the kernel (else ``pywt.swtn`` does)."""
    return _plan(data, wavelet, level, start_level, axes, norm) is not None


def _transform_axis(x: np.ndarray, axis: int, lo: np.ndarray, hi: np.ndarray, fstep: int):
    """PyWavelets' swt_axis at one level: the approximation and detail along ``axis``."""
    shape = x.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    stride = int(np.prod(shape[axis + 1 :], dtype=np.int64))
    cA = np.empty(shape, dtype=np.float64)
    cD = np.empty(shape, dtype=np.float64)
    _wavelet.swt_axis(x, (outer, shape[axis], stride), cA, cD, lo, hi, fstep)
    return cA, cD


def swtn(data, wavelet, level, start_level=0, axes=None, trim_approx=False, norm=False):
    """``pywt.swtn`` with the same values and structure (see the module docstring)."""
    plan = _plan(data, wavelet, level, start_level, axes, norm)
    if plan is None:
        return _pywt_swtn(data, wavelet, level, start_level=start_level, axes=axes, trim_approx=trim_approx, norm=norm)
    data, axes, filters = plan
    level = operator.index(level)
    start_level = operator.index(start_level)
    approx_key = "a" * len(axes)
    ret = []
    for i in range(start_level, start_level + level):
        # PyWavelets' swt_axis(level=1, start_level=i) is its level i + 1: filters
        # upsampled by 2**i.
        fstep = 1 << i
        bands = [("", data)]
        for axis, (lo, hi) in zip(axes, filters):
            split = []
            for subband, x in bands:
                cA, cD = _transform_axis(x, axis, lo, hi, fstep)
                split.append((subband + "a", cA))
                split.append((subband + "d", cD))
            bands = split
        coeffs = dict(bands)
        ret.append(coeffs)
        data = coeffs[approx_key]
        if trim_approx:
            coeffs.pop(approx_key)
    if trim_approx:
        ret.append(data)
    ret.reverse()
    return ret
