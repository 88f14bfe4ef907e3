"""The engine's stationary wavelet transform against PyWavelets' pywt.swtn, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import SimpleITK as sitk
from radiomics import imageoperations

from frd import (
    _wavelet,  # noqa: F401  (the kernel must be built: no silent fallback)
    wavelet,
)
from frd.wavelet import covered, swtn

FIXTURES = "tests/data/frd-score-fixtures"
SNAN = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]
NEG_NAN = np.array([0xFFF8000000000000], dtype=np.uint64).view(np.float64)[0]
PAYLOAD_NAN = np.array([0x7FF8000000000123], dtype=np.uint64).view(np.float64)[0]
SPECIALS = np.array([np.nan, NEG_NAN, PAYLOAD_NAN, SNAN, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324])

# The axes pyradiomics passes: 3D (2, 1, 0); force2D drops force2Ddimension 0, 1 or 2;
# a 2D sitk image gives (1, 0), with force2D (1,) or (0,).
PYRADIOMICS_AXES = [(2, 1, 0), (2, 1), (2, 0), (1, 0)]


def _same_bits(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return (
        ours.dtype == theirs.dtype
        and ours.shape == theirs.shape
        and np.array_equal(ours.view(np.uint64), theirs.view(np.uint64))
    )


def _assert_same(ours, theirs):
    """Same list structure, same dict keys in the same order, same bits."""
    assert type(ours) is type(theirs) is list and len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        if isinstance(t, np.ndarray):
            assert _same_bits(o, t)
            continue
        assert list(o) == list(t)
        for key in t:
            assert o[key].flags.c_contiguous
            assert _same_bits(o[key], t[key]), key


def _compare(x, wav="coif1", level=1, start_level=0, axes=None, **kw):
    assert covered(x, wav, level, start_level, axes, kw.get("norm", False))
    theirs = pywt.swtn(x, wav, level=level, start_level=start_level, axes=axes, **kw)
    ours = swtn(x, wav, level=level, start_level=start_level, axes=axes, **kw)
    _assert_same(ours, theirs)


@pytest.mark.parametrize(
    "shape",
    [(2, 2, 2), (2, 4, 6), (4, 6, 8), (6, 2, 4), (8, 10, 12), (10, 2, 6), (12, 16, 2), (22, 46, 34)],
)
@pytest.mark.parametrize("axes", PYRADIOMICS_AXES)
def test_random_volumes_coif1(shape, axes):
    rng = np.random.default_rng(hash((shape, axes)) % 2**32)
    _compare(rng.normal(size=shape) * 100, axes=axes)
    _compare(rng.normal(size=shape) * 1e-3 + 7, axes=axes)


def test_volume_of_the_benchmark_size():
    rng = np.random.default_rng(1)
    x = np.pad(rng.normal(size=(87, 179, 180)) * 100, ((0, 1), (0, 1), (0, 0)), "wrap")
    _compare(x, axes=(2, 1, 0))


@pytest.mark.parametrize("shape", [(1, 2, 2), (1, 4, 6), (1, 6, 10), (1, 128, 128), (1, 130, 66)])
def test_single_slices(shape):
    """2D images reach pyradiomics as (1, H, W) volumes; force2D drops axis 0."""
    rng = np.random.default_rng(shape[1] * 1000 + shape[2])
    x = rng.normal(size=shape) * 100
    _compare(x, axes=(2, 1))
    _compare(x, axes=None if shape[0] % 2 == 0 else (1, 2))


@pytest.mark.parametrize("axes", [(1, 0), (0, 1), (1,), (0,), (-1,)])
def test_two_dimensional_arrays(axes):
    x = np.random.default_rng(3).normal(size=(14, 20))
    _compare(x, axes=axes)


def test_one_dimensional_arrays():
    rng = np.random.default_rng(4)
    for n in (2, 4, 6, 8, 10, 64):
        _compare(rng.normal(size=n))


@pytest.mark.parametrize(
    "wav", ["haar", "db2", "db4", "sym8", "coif3", "coif5", "bior2.2", "rbio3.5", "bior6.8", "dmey"]
)
def test_other_wavelets_short_and_long_lines(wav):
    """Lines shorter than the filter wrap around more than once."""
    rng = np.random.default_rng(len(wav))
    for shape in [(2, 4, 6), (8, 2, 10), (16, 18, 4), (1, 36, 70)]:
        axes = (2, 1) if shape[0] == 1 else (2, 1, 0)
        _compare(rng.normal(size=shape), wav, axes=axes)


@pytest.mark.parametrize("level,start_level", [(1, 1), (2, 0), (2, 1), (3, 0), (1, 2)])
def test_upsampled_filters(level, start_level):
    """Levels above the first: PyWavelets' upsampled filters and their zero taps."""
    rng = np.random.default_rng(level * 10 + start_level)
    size = 2 ** (level + start_level)
    for shape in [(size, size, size), (size, 3 * size, 2 * size), (1, 5 * size, 4 * size)]:
        axes = (2, 1) if shape[0] == 1 else (2, 1, 0)
        for wav in ("coif1", "db3", "bior3.3"):
            _compare(rng.normal(size=shape), wav, level, start_level, axes)


@pytest.mark.parametrize("level,start_level", [(1, 0), (2, 0), (1, 1)])
@pytest.mark.parametrize("shape,axes", [((4, 6, 8), (2, 1, 0)), ((1, 16, 12), (2, 1)), ((2, 4, 2), (2, 1, 0))])
def test_nan_inf_and_signed_zeros(level, start_level, shape, axes):
    """NaNs of either sign and any payload, signalling NaNs, infinities, -0.0, overflow."""
    rng = np.random.default_rng(sum(shape) + level * 7 + start_level)
    for fraction in (0.01, 0.1, 0.5, 1.0):
        for wav in ("coif1", "bior3.5"):
            x = rng.normal(size=shape)
            where = rng.random(shape) < fraction
            x[where] = rng.choice(SPECIALS, where.sum())
            if all(x.shape[a] % 2 ** (level + start_level) == 0 for a in axes):
                _compare(x, wav, level, start_level, axes)
    _compare(np.full(shape, -0.0), "coif1", 1, 0, axes)
    _compare(np.where(rng.random(shape) < 0.5, 0.0, -0.0), "coif1", 1, 0, axes)
    single = np.zeros(shape)
    single.flat[rng.integers(single.size)] = np.nan
    _compare(single, "coif1", 1, 0, axes)


def test_options_and_wavelet_objects():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 8, 6))
    _compare(x, pywt.Wavelet("coif1"), axes=(2, 1, 0))
    _compare(x, ("coif1", "db2", "haar"), axes=(2, 1, 0))
    _compare(x, "sym3", 1, 0, (0, 2), trim_approx=True)
    _compare(x, "coif1", 1, 0, (2, 1, 0), trim_approx=True, norm=True)
    custom = pywt.Wavelet("mine", filter_bank=[rng.normal(size=4) for _ in range(4)])
    _compare(x, custom, axes=(2, 1))
    # input that is not a C-contiguous float64 array
    _compare(np.asfortranarray(x), axes=(2, 1, 0))
    _compare(x.transpose(1, 0, 2), axes=(2, 1, 0))
    _compare(rng.integers(-50, 50, size=(6, 4, 8)).astype(np.int16), axes=(2, 1, 0))
    _compare((rng.random((2, 4)) < 0.5), axes=(1, 0))


def test_what_goes_to_pywavelets():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 6, 8))
    # single precision and complex: PyWavelets' own arithmetic
    for y in (x.astype(np.float32), x + 1j * x[::-1]):
        assert not covered(y, "coif1", 1)
        _assert_same(swtn(y, "coif1", 1, axes=(2, 1, 0)), pywt.swtn(y, "coif1", 1, axes=(2, 1, 0)))
    # its errors: odd lengths, a length of 1 on a transformed axis, too many levels
    for y, axes, level in [(x[:3], None, 1), (x[:1], (0, 1), 1), (x, (2, 1, 0), 2)]:
        assert not covered(y, "coif1", level, 0, axes)
        with pytest.raises(ValueError) as theirs:
            pywt.swtn(y, "coif1", level, axes=axes)
        with pytest.raises(ValueError) as ours:
            swtn(y, "coif1", level, axes=axes)
        assert str(ours.value) == str(theirs.value)
    assert swtn(x, "coif1", 0) == pywt.swtn(x, "coif1", 0) == []


def _pyradiomics_outputs(image, **settings):
    return [
        (name, sitk.GetArrayFromImage(im), im.GetSpacing(), im.GetOrigin())
        for im, name, _ in imageoperations.getWaveletImage(image, None, **settings)
    ]


def _compare_pyradiomics(image, monkeypatch, **settings):
    """pyradiomics' generator with pywt.swtn and with the kernel in its place."""
    theirs = _pyradiomics_outputs(image, **settings)
    calls = []

    def spy(data, *args, **kwargs):
        calls.append(covered(data, *args, **kwargs))
        return swtn(data, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(imageoperations.pywt, "swtn", spy)
        ours = _pyradiomics_outputs(image, **settings)
    assert calls and all(calls)  # the kernel, not the fallback, computed them
    assert [o[0] for o in ours] == [t[0] for t in theirs]
    for (name, a, sa, oa), (_, b, sb, ob) in zip(ours, theirs):
        assert sa == sb and oa == ob
        assert _same_bits(a, b), name
    return theirs


def _prepared(image):
    """The image as pyradiomics filters it under the v1 preset: normalised to a scale of 100,
    resampled with the B-spline to 2 mm and cropped to the mask plus 10 voxels."""
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    mask.CopyInformation(image)
    mask[(0,) * image.GetDimension()] = 0
    image = imageoperations.normalizeImage(image, scale=100)
    spacing = [2, 2, 2] if image.GetSize()[2] > 1 else [2, 2, 0]
    image, _ = imageoperations.resampleImage(
        image, mask, resampledPixelSpacing=spacing, interpolator=sitk.sitkBSpline, padDistance=10, label=1
    )
    assert sitk.GetArrayViewFromImage(image).dtype == np.float64
    return image


def test_pyradiomics_wavelet_3d_fixture(monkeypatch):
    image = _prepared(sitk.ReadImage(f"{FIXTURES}/medical_3d/d1/d1_01.nii.gz"))
    outputs = _compare_pyradiomics(image, monkeypatch, wavelet="coif1", level=1, start_level=0)
    assert [name for name, *_ in outputs] == [
        "wavelet-LLH",
        "wavelet-LHL",
        "wavelet-LHH",
        "wavelet-HLL",
        "wavelet-HLH",
        "wavelet-HHL",
        "wavelet-HHH",
        "wavelet-LLL",
    ]
    # an odd-sized crop of it (pyradiomics pads with wrap and crops back)
    size = image.GetSize()
    odd = image[size[0] % 2 == 0 :, size[1] % 2 == 0 :, size[2] % 2 == 0 :]
    assert all(n % 2 for n in odd.GetSize())
    _compare_pyradiomics(odd, monkeypatch)


@pytest.mark.parametrize("name", ["d1_01.png", "d1_02.png"])
def test_pyradiomics_wavelet_2d_fixture(monkeypatch, name):
    slice_ = sitk.ReadImage(f"{FIXTURES}/medical_2d/d1/{name}")
    image = sitk.JoinSeries(slice_)  # a (1, H, W) volume of z-spacing 1, as the engine passes
    image = _prepared(image)
    assert sitk.GetArrayViewFromImage(image).shape[0] == 1
    outputs = _compare_pyradiomics(image, monkeypatch, force2D=True, force2Ddimension=0)
    assert [n for n, *_ in outputs] == ["wavelet-LH", "wavelet-HL", "wavelet-HH", "wavelet-LL"]
    # a second level (pyradiomics transforms the first level's approximation again)
    _compare_pyradiomics(image, monkeypatch, force2D=True, force2Ddimension=0, level=2)


def test_fallback_binding_survives_patching(monkeypatch):
    """With pywt.swtn replaced by ours, what we do not cover still reaches PyWavelets."""
    x = np.random.default_rng(7).normal(size=(4, 6, 8)).astype(np.float32)
    expected = pywt.swtn(x, "coif1", 1)
    monkeypatch.setattr(pywt, "swtn", swtn)
    assert wavelet._pywt_swtn is not swtn
    _assert_same(swtn(x, "coif1", 1), expected)
