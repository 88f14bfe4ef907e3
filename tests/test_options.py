"""One declaration of the options, three surfaces: the library, the command line and the
service accept exactly the same values, within the same bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from api.errors import ApiError
from api.schemas import Options
from frd.cli import _options, build_parser
from frd.errors import OptionError
from frd.options import FRDOptions
from frd.optionspec import Spec, specs


def _edges(spec: Spec) -> list[float]:
    """Numbers at and around the bounds."""
    out = [1.0, 2.5]
    if spec.minimum is not None:
        out += [spec.minimum, spec.minimum - 1, spec.minimum + 1e-3, spec.minimum - 1e-3]
    if spec.maximum is not None:
        out += [spec.maximum, spec.maximum + 1, spec.maximum - 1e-3]
    return out + [math.nan, math.inf, -math.inf]


def candidates(name: str, spec: Spec, tmp_path) -> list:
    """Values each surface is asked to accept or refuse for one option."""
    kind = spec.kind
    if kind == "choice":
        return [*spec.choices, "bogus", spec.choices[0].upper()]
    if kind == "names":
        return [
            [spec.choices[0]],
            list(spec.choices),
            [spec.choices[0], spec.choices[0]],
            ["bogus"],
            [spec.choices[-1], "bogus"],
        ]
    if kind == "numbers":
        return [[v] for v in _edges(spec)] + [[1.0] * spec.max_items, [1.0] * (spec.max_items + 1)]
    if kind in ("number", "share"):
        return _edges(spec)
    if kind == "integer":
        return [0, 7, -1, spec.maximum, spec.maximum + 1]
    if kind == "size":
        low, high = int(spec.minimum), int(spec.maximum)
        return [[low, low], [high, high], [low - 1, 5], [5, high + 1], [64, 32]]
    if kind == "range":
        return [[0.0, 1.0], [-3.0, 7.5], [1.0, 0.0], [1.0, 1.0], [math.nan, 1.0], [0.0, math.inf]]
    if kind == "flag":
        return [True, False]
    if kind == "path":
        good = tmp_path / "params.yaml"
        good.write_text("setting:\n  binWidth: 10\n")
        return [str(good), str(tmp_path / "missing.yaml")]
    raise AssertionError(kind)


def library_accepts(name: str, value) -> bool:
    try:
        FRDOptions(**{name: value})
    except OptionError:
        return False
    return True


def cli_tokens(name: str, spec: Spec, value) -> list[str]:
    flag = (spec.flags or (f"--{name.replace('_', '-')}",))[0]
    if spec.kind == "flag":
        return [flag] if value else []
    values = value if isinstance(value, list) else [value]
    return [flag, *(repr(v) if isinstance(v, float) else str(v) for v in values)]


def cli_accepts(name: str, spec: Spec, value, capsys) -> bool:
    parser = build_parser()
    try:
        args = parser.parse_args(["compare", "a", "b", *cli_tokens(name, spec, value)])
        options = _options(args)
    except SystemExit:  # argparse refused the flag's syntax
        capsys.readouterr()
        return False
    except OptionError:
        return False
    return getattr(options, name) == FRDOptions(**{name: value}).__getattribute__(name)


def schema_accepts(name: str, value) -> bool:
    """The request schema alone (what the service's OpenAPI document promises)."""
    try:
        Options.model_validate({name: value})
    except ValidationError:
        return False
    return True


def api_accepts(name: str, value) -> bool:
    try:
        Options.model_validate({name: value}).to_library()
    except (ValidationError, ApiError):
        return False
    return True


# What a JSON schema can say by itself; other rules (LO < HI, a name given twice) are the
# library's, checked by the service too (api_accepts).
SCHEMA_SAYS_ALL = ("choice", "number", "share", "integer", "numbers", "size", "flag")


@pytest.mark.parametrize("name", list(specs(FRDOptions)))
def test_the_three_surfaces_accept_the_same_values(name, tmp_path, capsys):
    spec = specs(FRDOptions)[name]
    verdicts = []
    for value in candidates(name, spec, tmp_path):
        expected = library_accepts(name, value)
        verdicts.append(expected)
        assert cli_accepts(name, spec, value, capsys) == expected, f"command line, {name}={value!r}"
        if spec.service:
            assert api_accepts(name, value) == expected, f"service, {name}={value!r}"
            schema = schema_accepts(name, value)
            assert schema == expected if spec.kind in SCHEMA_SAYS_ALL else schema or not expected, (
                f"service schema, {name}={value!r}"
            )
    assert any(verdicts), f"no accepted value of {name} was tried"
    if spec.kind != "flag":
        assert not all(verdicts), f"no refused value of {name} was tried"


def test_the_service_schema_has_every_option_but_server_paths():
    served = set(Options.model_fields)
    declared = {name for name, spec in specs(FRDOptions).items() if spec.service}
    assert served == declared and "params_file" not in served
    schema = Options.model_json_schema()["properties"]
    assert schema["resize"]["anyOf"][0]["prefixItems"][0] == {"maximum": 4096, "minimum": 1, "type": "integer"}
    assert schema["log_sigma"]["anyOf"][0]["maxItems"] == 10


def test_every_option_has_a_flag_with_help():
    parser = build_parser()
    compare = next(a for a in parser._subparsers._group_actions[0].choices["compare"]._actions if a.dest == "bin_width")
    assert compare.help.startswith("gray-level bin width") and "≤ 1000000" in compare.help
    dests = {a.dest for a in parser._subparsers._group_actions[0].choices["compare"]._actions}
    assert set(specs(FRDOptions)) <= dests


def test_options_that_are_pyradiomics_settings_reach_pyradiomics_and_the_cache_key(tmp_path):
    declared = specs(FRDOptions)
    settings = {name: spec for name, spec in declared.items() if spec.setting is not None}
    assert {"bin_width", "normalize_scale", "voxel_array_shift"} <= set(settings)
    default = FRDOptions()
    for name, spec in settings.items():
        value = next(v for v in candidates(name, spec, tmp_path) if library_accepts(name, v))
        options = FRDOptions(**{name: value})
        for ndim in (2, 3):
            passed = options.pyradiomics_params(ndim)["setting"][spec.setting]
            assert passed == (list(value) if isinstance(value, (list, tuple)) else value), name
        assert options.extraction_fingerprint() != default.extraction_fingerprint(), name


def test_statistical_options_are_exactly_those_that_change_reference_statistics(tmp_path):
    # Reference statistics hold what `statistics` options shape: each such option can
    # change their fingerprint (and a file made otherwise is refused naming it); the others
    # never do.
    from frd.stats import ReferenceStats, StatsMismatch

    rows = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    stats = ReferenceStats.fit(rows, ["a", "b", "c", "d"], FRDOptions(), ndim=2)
    default = FRDOptions().statistics_fingerprint()
    for name, spec in specs(FRDOptions).items():
        accepted = [FRDOptions(**{name: v}) for v in candidates(name, spec, tmp_path) if library_accepts(name, v)]
        changing = [o for o in accepted if o.statistics_fingerprint() != default]
        if not spec.statistics:
            assert not changing, name
            continue
        assert changing, f"{name} is declared statistical but no value changes the statistics"
        with pytest.raises(StatsMismatch, match=name if name != "version" else "frd-version|version"):
            stats.check_compatible(changing[0])
