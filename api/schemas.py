"""Request bodies. FRD options mirror :class:`frd.options.FRDOptions` (no server paths)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from frd.errors import OptionError
from frd.options import FRDOptions
from frd.optionspec import Spec, defaults, describe, specs

from .errors import ApiError


def _field_type(spec: Spec) -> Any:
    """The pydantic type of one declared option: the same values and bounds as the library.
    (Types made at run time from the declarations: nothing a static checker can follow.)"""
    limits = {"gt" if spec.exclusive_minimum else "ge": spec.minimum, "le": spec.maximum}
    bounds: dict[str, Any] = {k: v for k, v in limits.items() if v is not None}
    finite = Annotated[float, Field(allow_inf_nan=False, **bounds)]
    kind = spec.kind
    names = Literal.__getitem__(spec.choices)  # Literal["v0", "v1"] from the declared choices
    if kind == "choice":
        return names
    if kind == "names":
        return Annotated[
            list[names],  # type: ignore[valid-type]
            Field(min_length=0 if spec.may_be_empty else 1, max_length=len(spec.choices)),
        ]
    if kind == "numbers":
        return Annotated[list[finite], Field(min_length=1, max_length=spec.max_items)]
    if kind in ("number", "share"):
        return finite
    if kind == "integer":
        return Annotated[int, Field(strict=True, **bounds)]
    if kind == "size":
        whole = Annotated[int, Field(strict=True, **bounds)]
        return tuple[whole, whole]
    if kind == "range":
        plain = Annotated[float, Field(allow_inf_nan=False)]
        return tuple[plain, plain]
    if kind == "flag":
        return Annotated[bool, Field(strict=True)]
    raise AssertionError(kind)


class _OptionsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_library(self) -> dict[str, Any]:
        """The options a client set (JSON-safe lists), checked by the library itself, so
        that what the schema cannot say (LO < HI, names given twice) is a 422 as well."""
        options: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.model_dump(exclude_unset=True).items()
        }
        try:
            FRDOptions(**options)
        except OptionError as exc:
            raise ApiError(422, "invalid_options", exc.render(lambda name: f"options.{name}")) from None
        return options


# The FRD options of the service: made from FRDOptions' declarations (frd.optionspec), all
# but what names a file of the server (params_file). Tuple defaults are given as the lists
# the schema declares (a tuple would make pydantic warn when it writes the OpenAPI document).
_DEFAULTS = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults(FRDOptions).items()}
_FIELDS: dict[str, Any] = {
    name: (
        (_field_type(spec) | None) if spec.nullable else _field_type(spec),
        Field(default=_DEFAULTS[name], description=f"{spec.help} ({describe(spec)})"),
    )
    for name, spec in specs(FRDOptions).items()
    if spec.service
}
if TYPE_CHECKING:
    Options = _OptionsModel
else:
    Options = create_model(
        "Options",
        __base__=_OptionsModel,
        __doc__="The library's FRD options; omitted fields take the version's published defaults.",
        **_FIELDS,
    )


class ComparisonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(description="a dataset id (ds_…) or a reference-stats id (st_…)")
    candidate: str = Field(description="a dataset id (ds_…)")
    options: Options = Options()
    bootstrap: int = Field(default=0, ge=0, le=2000, description="bootstrap resamples for a CI (0: none)")
    report: bool = Field(
        default=False,
        description="render the HTML report (GET /v1/comparisons/{id}/report); "
        "it and a bootstrap CI take seconds, so they are computed only on request",
    )


class OODRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(description="the in-domain dataset id (ds_…)")
    test: str = Field(description="the dataset to screen (ds_…)")
    options: Options = Options()
    assumption: Literal["gaussian", "t", "counting"] = "gaussian"
    use_val_set: bool = False
    val_frac: float = Field(default=0.1, gt=0, lt=1)
    seed: int | None = None


class StatsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    options: Options = Options()
