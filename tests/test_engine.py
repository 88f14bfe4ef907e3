"""The "frd" engine gives pyradiomics' feature values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import textured, write_png

from frd.extract import Extractor
from frd.inputs import load_set
from frd.options import FEATURE_CLASSES, IMAGE_TYPES, FRDOptions


def _vectors(items, **options):
    plain = Extractor(FRDOptions(engine="pyradiomics", **options))
    fast = Extractor(FRDOptions(engine="frd", **options))
    return [(plain(i), fast(i)) for i in items]


def _assert_identical(pairs):
    for plain, fast in pairs:
        assert fast.names == plain.names
        # Bit-identical, NaNs included.
        np.testing.assert_array_equal(fast.values.view(np.int64), plain.values.view(np.int64))


@pytest.mark.parametrize("bin_width", [5, 25])
def test_2d_fixtures_v1_identical(fixtures_2d, bin_width):
    items = load_set(fixtures_2d[0])[:4]
    _assert_identical(_vectors(items, bin_width=bin_width))


def test_2d_v0_and_masks_identical(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(3):
        write_png(tmp_path / "img" / f"c{i}.png", textured(rng, size=64))
        mask = np.zeros((64, 64), np.uint8)
        mask[8 + i : 50, 10 : 56 - i] = 1
        write_png(tmp_path / "msk" / f"c{i}.png", mask)
    items = load_set(tmp_path / "img", tmp_path / "msk")
    _assert_identical(_vectors(items))
    _assert_identical(_vectors(items, version="v0", bin_width=3))


def test_masks_that_are_a_tail_of_the_image_identical(tmp_path):
    # A mask holding every voxel from some voxel on (v1's whole-image mask without its
    # first voxel, or without a volume's first row once resampled) is read as a view of the
    # image; a mask holding the voxels up to some voxel is not a tail and is copied. Both
    # give pyradiomics' values.
    from frd.formulas import mask_tail

    rng = np.random.default_rng(12)
    masks = {}
    tail = np.zeros((64, 64), np.uint8)
    tail.reshape(-1)[64 * 20 + 7 :] = 1  # from the middle of row 20 on
    masks["tail"] = tail
    masks["head"] = 1 - tail
    masks["all"] = np.ones((64, 64), np.uint8)
    for name, mask in masks.items():
        write_png(tmp_path / "img" / f"{name}.png", textured(rng, size=64))
        write_png(tmp_path / "msk" / f"{name}.png", mask)
    assert mask_tail(tail.astype(bool)) == 64 * 20 + 7
    assert mask_tail(masks["head"].astype(bool)) is None
    assert mask_tail(masks["all"].astype(bool)) == 0
    assert mask_tail(np.zeros((4, 4), bool)) is None and mask_tail(np.zeros((0,), bool)) is None
    items = load_set(tmp_path / "img", tmp_path / "msk")
    _assert_identical(_vectors(items))
    _assert_identical(_vectors(items, version="v0", bin_width=3))


def test_3d_identical(tmp_path):
    rng = np.random.default_rng(6)
    noise = sitk.GetImageFromArray(rng.normal(0, 1, (10, 14, 14)))
    field = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, 1.0))
    volume = sitk.GetImageFromArray((300 + 80 * field / field.std()).astype(np.int16))
    volume.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(volume, str(tmp_path / "v.nii.gz"))
    _assert_identical(_vectors(load_set(tmp_path)))


@pytest.mark.parametrize("shape", [(33, 47), (7, 15, 21)])
def test_wavelet_levels_and_odd_sizes_identical(tmp_path, shape):
    # The engine makes pyradiomics' wavelet images itself (frd.preparation._swt3): an odd
    # size is wrapped by one voxel and cropped back; a start level and several levels
    # (a parameter file can set them) name and chain the bands as pyradiomics does.
    rng = np.random.default_rng(13)
    volume = sitk.GetImageFromArray(rng.normal(300, 60, shape).astype(np.int16))
    sitk.WriteImage(volume, str(tmp_path / "v.nrrd"))
    params = tmp_path / "params.yaml"
    params.write_text(
        "imageType:\n  Original: {}\n  Wavelet: {wavelet: haar, start_level: 1, level: 2}\n"
        "featureClass:\n  firstorder: []\n  glcm: []\n"
        "setting:\n  binWidth: 10\n  label: 1\n"
    )
    pairs = _vectors(load_set(tmp_path / "v.nrrd"), params_file=str(params))
    names = pairs[0][0].names
    assert any(n.startswith("wavelet2-") for n in names) and any(n.startswith("wavelet-") for n in names)
    _assert_identical(pairs)


def test_engine_is_validated_and_part_of_the_cache_key_only():
    with pytest.raises(ValueError, match="engine"):
        FRDOptions(engine="fast-and-wrong")
    a, b = FRDOptions(engine="frd"), FRDOptions(engine="pyradiomics")
    assert a.extraction_fingerprint() != b.extraction_fingerprint()
    assert a.statistics_fingerprint() == b.statistics_fingerprint()


def test_many_textures_and_bin_widths_identical(tmp_path):
    # Varied textures and bin widths hit every path of pyradiomics' matrix clean-up
    # (no, one or several empty gray levels and zone sizes), which the compact GLSZM
    # must reproduce to the bit.
    rng = np.random.default_rng(12)
    for i, smooth in enumerate((0.5, 1.0, 2.0, 4.0)):
        write_png(tmp_path / "img" / f"t{i}.png", textured(rng, size=40, smooth=smooth, scale=20 + 30 * i))
    items = load_set(tmp_path / "img")
    for bin_width in (1, 3, 10, 40):
        _assert_identical(_vectors(items, version="v0", bin_width=bin_width))
        _assert_identical(_vectors(items, bin_width=bin_width, image_types=("Original",)))


def _with_each_dimension(shapes):
    """(shape, d) for d = None (no force2D) and every dimension the shape has."""
    return [(shape, d) for shape in shapes for d in (None, *range(len(shape)))]


@pytest.mark.parametrize(("shape", "across"), _with_each_dimension([(7, 9, 11), (1, 12, 10), (12, 10)]))
def test_zone_kernel_matches_pyradiomics_glszm(shape, across):
    # The compiled zone labelling against pyradiomics' own GLSZM builder, as dense
    # gray level x zone size counts: blocky random levels make zones of many sizes.
    from radiomics import _cmatrices

    from frd.matrices import gray_level_zones

    rng = np.random.default_rng(sum(shape) + (across or 7))
    image = rng.integers(1, 5, shape).astype(np.int64)
    image = np.where(rng.random(shape) < 0.6, np.roll(image, 1, -1), image)
    mask = rng.random(shape) < 0.85
    Ng, Ns = int(image.max()), int(mask.sum())
    dense = _cmatrices.calculate_glszm(image, mask, Ng, Ns, across is not None, across or 0)[0]

    levels, sizes = gray_level_zones(image, mask, across)
    ours = np.zeros_like(dense)
    np.add.at(ours, (levels - 1, sizes - 1), 1)
    np.testing.assert_array_equal(ours, dense)
    assert sizes.sum() == Ns


@pytest.mark.parametrize(
    ("shape", "force2d"),
    [(shape, d) for shape, d in _with_each_dimension([(6, 9, 11), (1, 12, 10), (12, 10), (3, 2, 30)]) if d != 1],
)
@pytest.mark.parametrize("distances", [[1], [1, 2]])
def test_matrix_kernels_match_pyradiomics_c(shape, force2d, distances):
    # Every entry, shape, dtype and memory layout of the GLCM, GLRLM and NGTDM equal to
    # what pyradiomics' C module returns for the same call, NGTDM sums to the bit.
    from radiomics import cMatrices

    from frd.matrices import MATRICES

    rng = np.random.default_rng(len(shape) * 100 + sum(shape) + (force2d or 5) + len(distances))
    image = rng.integers(1, 7, shape).astype(np.int64)
    image = np.where(rng.random(shape) < 0.5, np.roll(image, 1, -1), image)
    mask = rng.random(shape) < 0.8
    Ng, Nr = 6, max(shape)
    flags = (force2d is not None, force2d or 0)
    d = np.array(distances)
    calls = [
        ("calculate_glcm", (image, mask, d, Ng, *flags)),
        ("calculate_glrlm", (image, mask, Ng, Nr, *flags)),
        ("calculate_ngtdm", (image, mask, d, Ng, *flags)),
    ]
    for name, args in calls:
        ours, theirs = getattr(MATRICES, name)(*args), getattr(cMatrices, name)(*args)
        if isinstance(theirs, tuple):  # (matrix, angles)
            np.testing.assert_array_equal(ours[1], theirs[1])
            ours, theirs = ours[0], theirs[0]
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert ours.flags.c_contiguous and theirs.flags.c_contiguous
        np.testing.assert_array_equal(ours.view(np.int64), theirs.view(np.int64), err_msg=name)
        assert ours.any()


def test_matrix_kernels_reject_levels_outside_range():
    from frd.matrices import MATRICES

    image = np.full((4, 4, 4), 3)
    with pytest.raises(IndexError, match="gray level 3 outside 1..2"):
        MATRICES.calculate_glcm(image, np.ones_like(image, bool), np.array([1]), 2, False, 0)


def test_engine_refuses_another_pyradiomics_series():
    from frd.engine import check_pyradiomics_version

    check_pyradiomics_version("v3.1.4")
    check_pyradiomics_version("3.1.0")
    with pytest.raises(RuntimeError, match="mirrors pyradiomics 3.1.x, but v3.2.0"):
        check_pyradiomics_version("v3.2.0")


@pytest.mark.slow
def test_3d_fixture_volumes_identical(fixtures_3d):
    # One real volume of each 3D fixture set (32x32x16 resampled to 180x180x88), every
    # filter: all 1,014 values bit-identical to plain pyradiomics.
    items = [load_set(folder)[0] for folder in fixtures_3d]
    pairs = _vectors(items)
    assert all(len(plain.values) > 1000 for plain, _ in pairs)
    _assert_identical(pairs)


def test_kernels_refuse_wrong_buffers_and_release_the_others():
    # A refused buffer must release the ones already taken. A bytearray cannot grow while
    # a buffer of it is held, so the mask (taken before the refused argument) tells.
    from frd import _kernels

    image = np.ones((2, 3, 4), np.int32)
    mask = bytearray(b"\x01" * image.size)
    levels, sizes = np.empty(image.size, np.int32), np.empty(image.size, np.int64)

    def mask_is_free():
        mask.append(0)  # BufferError while still held
        mask.pop()
        return True

    with pytest.raises(TypeError, match="sizes \\(int64\\)"):
        _kernels.glszm_zones(image, mask, image.shape, -1, levels, sizes.astype(np.int32))
    assert mask_is_free()
    with pytest.raises(ValueError, match="do not match the shape"):
        _kernels.glszm_zones(image, mask, (2, 3, 5), -1, levels, sizes)
    assert mask_is_free()
    with pytest.raises(TypeError, match="out \\(float64\\)"):
        _kernels.glcm(image, mask, image.shape, np.array([[0, 0, 1]], np.int32), 1, np.empty(1, np.float32))
    assert mask_is_free()
    assert _kernels.glszm_zones(image, mask, image.shape, -1, levels, sizes) == 1
    assert sizes[0] == image.size and mask_is_free()


# ----- the engine's rewritten formulas, class by class --------------------------------------


def _blocky(rng, shape, values):
    """Integer image of the given values, in blocks (runs, zones and co-occurrences of many sizes)."""
    image = rng.choice(values, shape)
    image = np.where(rng.random(shape) < 0.5, np.roll(image, 1, -1), image)
    return sitk.GetImageFromArray(image.astype(np.float64))


def _mask_image(rng, shape, holes: bool):
    mask = (rng.random(shape) < 0.9) if holes else np.ones(shape, bool)
    mask.flat[0] = False
    return sitk.GetImageFromArray(mask.astype(np.uint8))


def _assert_same_bits(ours, theirs, what):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    np.testing.assert_array_equal(ours.view(np.int64), theirs.view(np.int64), err_msg=what)


# Gray levels 1..9 with none, one or several absent (pyradiomics' deletions of empty levels
# leave the GLCM in a different memory layout in each case), 2D (4 angles), 3D (13), and
# lines (angles without any pair, which pyradiomics deletes).
_LEVEL_SETS = {"all": range(9), "one absent": [0, 1, 2, 3, 5, 6, 7, 8], "several absent": [0, 2, 3, 7, 8]}
_SHAPES = [((1, 24, 21), True), ((9, 12, 11), False), ((1, 1, 40), True), ((1, 2, 30), True)]


@pytest.mark.parametrize("levels", list(_LEVEL_SETS))
@pytest.mark.parametrize("shape, force2d", _SHAPES)
@pytest.mark.parametrize("holes", [False, True])
def test_glcm_matrix_coefficients_and_features_identical(levels, shape, force2d, holes):
    from radiomics.glcm import RadiomicsGLCM

    from frd.engine import _CLASSES

    rng = np.random.default_rng(len(levels) * 7 + sum(shape) + holes)
    image, mask = _blocky(rng, shape, list(_LEVEL_SETS[levels])), _mask_image(rng, shape, holes)
    settings = dict(binWidth=1, force2D=force2d, force2Ddimension=0, label=1)
    plain, fast = RadiomicsGLCM(image, mask, **settings), _CLASSES["glcm"](image, mask, **settings)
    plain._initCalculation()
    fast._initCalculation()
    _assert_same_bits(fast.P_glcm, plain.P_glcm, "P_glcm")
    # The same memory layout: numpy sums the features' products in memory order.
    assert np.argsort(fast.P_glcm.strides[1:]).tolist() == np.argsort(plain.P_glcm.strides[1:]).tolist()
    for name in ("px", "py", "ux", "uy", "pxAddy", "pxSuby", "HXY"):
        _assert_same_bits(fast.coefficients[name], plain.coefficients[name], name)
    plain.enableAllFeatures()
    fast.enableAllFeatures()
    theirs, ours = plain.execute(), fast.execute()
    assert ours.keys() == theirs.keys()
    for name in theirs:
        _assert_same_bits(ours[name], theirs[name], name)


@pytest.mark.parametrize("shape, force2d", _SHAPES)
@pytest.mark.parametrize("bin_width", [1, 3])
def test_every_feature_class_identical_on_small_images(shape, force2d, bin_width):
    # Each engine class against pyradiomics' own, one image at a time (no shared binning):
    # first order (order statistics, moments), GLRLM, GLSZM, NGTDM and GLDM.
    from radiomics import getFeatureClasses

    from frd.engine import _CLASSES

    rng = np.random.default_rng(sum(shape) + bin_width)
    image = sitk.GetImageFromArray(rng.normal(50, 20, shape).round(1))
    mask = _mask_image(rng, shape, holes=True)
    settings = dict(binWidth=bin_width, force2D=force2d, force2Ddimension=0, label=1, voxelArrayShift=300)
    for name, cls in getFeatureClasses().items():
        if name.startswith("shape"):
            continue
        plain, fast = cls(image, mask, **settings), _CLASSES[name](image, mask, **settings)
        plain.enableAllFeatures()
        fast.enableAllFeatures()
        theirs, ours = plain.execute(), fast.execute()
        assert ours.keys() == theirs.keys(), name
        for feature in theirs:
            _assert_same_bits(ours[feature], theirs[feature], f"{name} {feature}")


def test_order_statistics_and_moments_match_numpy():
    # One sort serves every percentile and the median (computed from it as numpy does, not
    # by numpy's calls); checked against numpy's own calls on sizes either side of
    # nanmedian's small-array path and every residue of n - 1 modulo 20 (where each
    # quartile's interpolation weight changes), with ties, signed zeros, negative, huge,
    # subnormal and infinite values.
    from frd.formulas import FirstOrderFormulas

    class Voxels(FirstOrderFormulas):
        voxelBased = False
        voxelArrayShift = 300

        def __init__(self, values):
            self.targetVoxelArray, self.coefficients = values.reshape(1, -1), {}

    rng = np.random.default_rng(3)
    for n in (*range(1, 22), 599, 600, 601, 602, 619, 5000):
        signed_zeros = np.where(rng.random(n) < 0.4, rng.choice([0.0, -0.0], n), rng.normal(0, 1, n))
        extremes = rng.choice([1e300, -1e300, 5e-324, -5e-324, np.inf, -np.inf, 1.0], n)
        for values in (rng.normal(0, 40, n), rng.integers(-5, 5, n).astype(float), signed_zeros, extremes):
            x = values.reshape(1, -1)
            v = Voxels(values)
            for q in (10, 25, 75, 90):
                _assert_same_bits(v._percentile(q), np.nanpercentile(x, q, axis=1), f"p{q} n={n}")
            _assert_same_bits(v.getMedianFeatureValue(), np.nanmedian(x, 1), f"median n={n}")
            mean = np.nanmean(x, 1, keepdims=True)
            for k in (2, 3, 4):
                _assert_same_bits(v._central_moment(k), np.nanmean(np.power(x - mean, k), 1), f"m{k}")
    with_nan = Voxels(np.array([1.0, np.nan, 3.0, 2.0]))
    assert with_nan._order_statistics() is None  # left to numpy's nan-aware functions
    assert Voxels(np.array([1.0, np.inf, 3.0]))._order_statistics() is None  # so are infinities
    _assert_same_bits(with_nan._percentile(25), np.nanpercentile(with_nan.targetVoxelArray, 25, axis=1), "nan")


def test_level_sums_match_numpy_in_every_layout():
    # numpy sums in memory order: C-ordered, column-outer (what pyradiomics' deletions
    # leave), products of both, a single angle (pairwise: numpy's own) and a sliced view.
    from frd.matrices import max_over_levels, sum_over_levels

    rng = np.random.default_rng(8)
    for _ in range(60):
        n, na = int(rng.integers(2, 40)), int(rng.choice([1, 2, 4, 13]))
        base = rng.random((1, n + 3, n + 3, na)) ** 3 * rng.choice([-1.0, 1.0], (1, n + 3, n + 3, na))
        column_outer = np.delete(np.delete(base, [0, 2], 1), [0, 2], 2)
        for A in (
            base[:, :n, :n].copy(),
            column_outer,
            column_outer * rng.random((1, n + 1, 1, na)),
            column_outer * rng.random((1, n + 1, n + 1, 1)),
            base[:, 1:, :-2],
        ):
            for keepdims in (False, True):
                _assert_same_bits(sum_over_levels(A, keepdims), np.sum(A, (1, 2), keepdims=keepdims), "sum")
            _assert_same_bits(max_over_levels(A), np.amax(A, (1, 2)), "max")
    with_nan = rng.random((1, 5, 5, 4))
    with_nan[0, 2, 3, 1] = np.nan
    _assert_same_bits(max_over_levels(with_nan), np.amax(with_nan, (1, 2)), "max with NaN")


def test_digitize_kernel_matches_numpy():
    from frd.engine import bin_edges
    from frd.matrices import digitize_masked

    rng = np.random.default_rng(5)
    for width in (0.1, 1, 5, 25, 1e-3):
        values = np.concatenate([rng.normal(0, 300, 5000), rng.integers(-40, 40, 200) * width, [-0.0, 0.0]])
        mask = rng.random(values.shape) < 0.8
        edges = bin_edges(values[mask], width)
        expected = np.zeros(values.shape, dtype="int")
        expected[mask] = np.digitize(values[mask], edges)
        np.testing.assert_array_equal(digitize_masked(values, mask, edges, width), expected)
    values[3] = np.nan
    assert digitize_masked(values, np.ones(values.shape, bool), edges, 5) is None


def test_diagnostics_keep_every_entry_a_vector_can_hold():
    # The engine's diagnostics against pyradiomics' GeneralInfo: the same entries with the
    # same values, less the mask's bounding box and centre of mass (tuples); masks of one
    # and of several parts (8/26-connected), 2D and 3D.
    from radiomics.generalinfo import GeneralInfo

    from frd.preparation import Diagnostics

    rng = np.random.default_rng(9)
    for shape in ((30, 40), (1, 30, 40), (6, 30, 30)):
        image = sitk.GetImageFromArray(rng.normal(100, 30, shape))
        for parts in (1, 3):
            mask_array = np.zeros(shape, np.uint32)
            for p in range(parts):
                mask_array[..., 2 + 8 * p : 6 + 8 * p, 3 : 9 + p] = 1
            mask_array[..., 26, 26] = 1  # touches nothing: one more part
            mask_array[..., 27, 27] = 1  # diagonal neighbour: the same part when fully connected
            mask = sitk.GetImageFromArray(mask_array)
            theirs, ours = GeneralInfo(), Diagnostics()
            for info in (theirs, ours):
                info.addImageElements(image)
                info.addMaskElements(None, mask, 1)
                info.addImageElements(image, "interpolated")
                info.addMaskElements(image, mask, 1, "interpolated")
            theirs, ours = theirs.getGeneralInfo(), ours.getGeneralInfo()
            left_out = {k for k in theirs if k.endswith(("_BoundingBox", "_CenterOfMassIndex", "_CenterOfMass"))}
            assert list(ours) == [k for k in theirs if k not in left_out]
            for key in ours:
                assert type(ours[key]) is type(theirs[key]) and ours[key] == theirs[key], key
            assert ours["diagnostics_Mask-original_VolumeNum"] == parts + 1


def test_parameter_validation_unchanged():
    # The schema parsed with libyaml is the data pykwalify parses, and invalid parameters
    # are still refused by pyradiomics' validation.
    from pykwalify.compat import yml
    from radiomics import getParameterValidationFiles

    from frd.engine import FastExtractor
    from frd.preparation import _parsed_schema

    schema_file, _ = getParameterValidationFiles()
    with open(schema_file, encoding="utf-8") as stream:
        assert _parsed_schema((schema_file,)) == yml.load(stream)
    params = FRDOptions().pyradiomics_params(2)
    assert FastExtractor(params).settings["binWidth"] == 5
    params["setting"]["binWidth"] = "wide"
    with pytest.raises(Exception, match="binWidth|wide"):
        FastExtractor(params)


def _option_variants():
    """FRDOptions at the limits of every option that reaches pyradiomics' parameters."""
    from frd.optionspec import specs

    yield FRDOptions()
    yield FRDOptions(feature_classes=FEATURE_CLASSES, image_types=IMAGE_TYPES, log_sigma=(1e-3, 100.0))
    for name, spec in specs(FRDOptions).items():
        if spec.setting is None:
            continue
        if spec.kind == "choice":
            values = list(spec.choices)
        else:
            low = spec.minimum + (1e-6 if spec.exclusive_minimum else 0)
            values = [low, spec.maximum]
            if spec.kind == "integer":
                values = [int(v) for v in values]
        for value in values:
            yield FRDOptions(**{name: value})


def test_checked_params_pass_pyradiomics_validation():
    # The engine skips pykwalify for the parameters it builds (CheckedParams): every preset,
    # in 2D and 3D, with each option at its limits, passes pyradiomics' own validation.
    import pykwalify.core
    from radiomics import getParameterValidationFiles

    schema_file, schema_funcs = getParameterValidationFiles()
    checked = 0
    for version in ("v0", "v1"):
        for options in _option_variants():
            for ndim in (2, 3):
                params = options.with_changes(version=version).pyradiomics_params(ndim)
                core = pykwalify.core.Core(source_data=params, schema_files=[schema_file], extensions=[schema_funcs])
                assert core.validate(raise_exception=True) == params
                checked += 1
    assert checked > 40


def test_voxel_array_shift_is_a_whole_number_for_pyradiomics(fixtures_2d):
    # pyradiomics' schema requires an int: --voxel-array-shift 300 used to reach it as 300.0
    # and fail every image with a SchemaError.
    item = load_set(fixtures_2d[0])[0]
    for engine in ("pyradiomics", "frd"):
        shifted = Extractor(FRDOptions(engine=engine, voxel_array_shift=200))(item)
        default = Extractor(FRDOptions(engine=engine))(item)
        energy = shifted.names.index("firstorder_Energy")
        assert shifted.values[energy] != default.values[energy]


def test_an_extraction_worker_never_loads_the_validator(fixtures_2d):
    # pykwalify (imported at the top of pyradiomics' extractor module) stays a stand-in in a
    # process that extracts with the built-in presets, and loads on first use elsewhere.
    import subprocess
    import sys

    code = (
        "import sys, frd.executors as e; from frd.inputs import load_set; from frd.options import FRDOptions\n"
        f"status, _ = e.extract_task(load_set({str(fixtures_2d[0])!r})[0], FRDOptions())\n"
        "print(status, type(sys.modules['pykwalify.core']).__name__)\n"
        "import pykwalify.core; print(pykwalify.core.Core.__name__, type(sys.modules['pykwalify.core']).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["ok", "_StandIn", "Core", "module"]


def test_first_order_sums_follow_numpys_pairwise_order():
    # Each sum against numpy's own expression (as pyradiomics writes it) on sizes around
    # numpy's pairwise blocks (8, 128) and up to a 3D volume's voxel count.
    from frd.matrices import first_order_sums

    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 8, 9, 15, 16, 127, 128, 129, 255, 256, 257, 1000, 4097, 100_003, 2_851_201):
        x = rng.normal(20, 80, (1, n))
        x[0, : n // 3] = np.round(x[0, : n // 3])  # ties at the percentiles
        mean = np.nanmean(x, 1, keepdims=True)
        p10, p90 = np.nanpercentile(x, 10, axis=1), np.nanpercentile(x, 90, axis=1)
        sums = first_order_sums(x[0], mean[0, 0], 300, p10[0], p90[0])
        _assert_same_bits(sums["energy"], np.nansum((x + 300) ** 2, 1)[0], f"energy n={n}")
        _assert_same_bits(sums["abs_dev"] / n, np.nanmean(np.absolute(x - mean), 1)[0], f"MAD n={n}")
        _assert_same_bits(np.sqrt(sums["sq_dev"] / n) ** 2, (np.nanstd(x, 1) ** 2)[0], f"variance n={n}")
        _assert_same_bits(sums["sq_dev"] / n, np.nanmean(np.power(x - mean, 2), 1)[0], f"m2 n={n}")
        robust = x.copy()
        outside = ((robust - p10[:, None]) < 0) | ((robust - p90[:, None]) > 0)
        robust[outside] = np.nan
        assert sums["kept"] == n - outside.sum()
        if sums["kept"]:  # (none kept: the engine leaves it to numpy, which warns and gives NaN)
            expected = np.nanmean(np.absolute(robust - np.nanmean(robust, 1, keepdims=True)), 1)[0]
            _assert_same_bits(sums["robust_abs_dev"] / sums["kept"], expected, f"robust MAD n={n}")
