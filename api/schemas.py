"""Request bodies. FRD options mirror :class:`frd.options.FRDOptions` (no server paths)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FeatureClass = Literal["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape", "shape2D"]
ImageType = Literal["Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential",
                    "Gradient", "LBP2D", "LBP3D"]


class Options(BaseModel):
    """The library's FRD options; omitted fields take the version's published defaults."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["v1", "v0"] = "v1"
    feature_classes: list[FeatureClass] | None = None
    image_types: list[ImageType] | None = None
    log_sigma: list[float] | None = Field(default=None, min_length=1)
    bin_width: float | None = Field(default=None, gt=0)
    normalize_scale: float | None = Field(default=None, gt=0)
    voxel_array_shift: float | None = None
    resize: tuple[int, int] | None = None
    exclude: list[Literal["textural", "wavelet", "firstorder", "shape"]] = []
    match_sample_count: bool = False
    seed: int | None = None
    norm_type: Literal["zscore", "minmax"] | None = None
    norm_range: tuple[float, float] | None = None
    norm_ref: Literal["d1", "joint", "independent"] | None = None
    means_only: bool = False
    paper_log: bool = False
    robust: bool = False
    engine: Literal["frd", "pyradiomics"] = "frd"

    def to_library(self) -> dict:
        """Keyword arguments for FRDOptions (JSON-safe: lists, not tuples)."""
        return {k: v for k, v in self.model_dump().items()
                if v is not None and v != [] and v is not False and not (k == "engine" and v == "frd")}


class ComparisonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(description="a dataset id (ds_…) or a reference-stats id (st_…)")
    candidate: str = Field(description="a dataset id (ds_…)")
    options: Options = Options()
    bootstrap: int = Field(default=0, ge=0, le=2000, description="bootstrap resamples for a CI (0: none)")
    report: bool = Field(default=False, description="render the HTML report (GET /v1/comparisons/{id}/report); "
                         "it and a bootstrap CI take seconds, so they are computed only on request")


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
