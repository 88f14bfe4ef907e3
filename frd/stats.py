"""Reference statistics: everything about D1 that an FRD against it needs.

A :class:`ReferenceStats` holds D1's normaliser (raw per-feature mean/std or min/max),
the mean and covariance of D1's *normalised* features, the feature names, n, and the
fingerprints of the options and library versions that produced them. Comparing a
candidate set against it gives exactly the value of comparing the two folders — the
folder comparison itself goes through this object — which the reference tool's .npz
(mu and sigma only) cannot do for its default D1-referenced normalisation.

Files (``.frdstats``) are NumPy ``.npz`` archives with a JSON header; loading never
unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError, OptionError, StatsMismatch
from .normalize import Normalizer
from .options import FRDOptions
from .optionspec import specs

FORMAT = "frdstats/1"


@dataclass
class ReferenceStats:
    """Everything about D1 that an FRD against it needs (see the module docstring)."""

    names: list[str]  # features before the non-finite column filter
    n: int
    normalizer: Normalizer
    kept: np.ndarray  # bool per name: finite in D1's normalised features
    mu: np.ndarray  # over kept columns
    sigma: np.ndarray  # over kept columns
    ndim: int
    options: dict = field(default_factory=dict)
    fingerprint: str = ""
    versions: dict = field(default_factory=dict)
    raw_mean: np.ndarray | None = None  # D1's raw per-feature mean and std (float64), for
    raw_std: np.ndarray | None = None  # the degenerate-feature checks of frd.analysis

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        names: list[str],
        options: FRDOptions,
        *,
        ndim: int,
        normalizer: Normalizer | None = None,
        versions: dict | None = None,
    ) -> ReferenceStats:
        """Statistics of D1's prepared features (see :func:`frd.rows.prepare_rows`).

        ``normalizer`` defaults to one fitted on D1 itself (norm_ref "d1"/"independent").
        """
        if normalizer is None:
            normalizer = fit_normalizer(features, options)
        z = normalizer.apply(features)
        if options.rules.drop_nonfinite_columns:
            kept = np.isfinite(z).all(axis=0)
        else:
            kept = np.ones(z.shape[1], dtype=bool)
        zk = z[:, kept]
        raw = np.asarray(features, dtype=np.float64)
        return cls(
            names=list(names),
            n=int(features.shape[0]),
            normalizer=normalizer,
            kept=kept,
            mu=np.mean(zk, axis=0),
            sigma=np.atleast_2d(np.cov(zk, rowvar=False)),
            ndim=ndim,
            options=options.to_dict(),
            fingerprint=options.statistics_fingerprint(),
            versions=dict(versions or {}),
            raw_mean=np.nanmean(raw, axis=0),
            raw_std=np.nanstd(raw, axis=0),
        )

    @classmethod
    def from_moments(
        cls,
        moments,
        n: int,
        names: list[str],
        options: FRDOptions,
        *,
        ndim: int,
        normalizer: Normalizer,
        raw=None,
        versions: dict | None = None,
    ) -> ReferenceStats:
        """Statistics from chunk-accumulated moments of D1's normalised rows (see frd.aggregate)."""
        kept = moments.finite.copy() if options.rules.drop_nonfinite_columns else np.ones_like(moments.finite)
        return cls(
            names=list(names),
            n=int(n),
            normalizer=normalizer,
            kept=kept,
            mu=moments.mean[kept],
            sigma=np.atleast_2d(moments.covariance()[np.ix_(kept, kept)]),
            ndim=ndim,
            options=options.to_dict(),
            fingerprint=options.statistics_fingerprint(),
            versions=dict(versions or {}),
            raw_mean=None if raw is None else raw.mean.copy(),
            raw_std=None if raw is None else np.sqrt(raw.m2 / np.maximum(raw.n, 1)),
        )

    def compare_rows(
        self, candidate: np.ndarray, normalizer: Normalizer, options: FRDOptions, drop: np.ndarray | None = None
    ):
        """Normalise the candidate, apply the column filter, and return the pieces of d².

        ``drop`` marks further columns to leave out (the robust variant's). Returns
        (names used, mu1, sigma1, mu2, sigma2).
        """
        z2 = normalizer.apply(candidate)
        finite2 = np.isfinite(z2).all(axis=0)
        keep = self._columns(finite2, options, drop)
        z2k = z2[:, keep]
        if len(z2k) < 2:  # one image has no covariance (OOD screening of a single image)
            return self._pieces(keep, np.mean(z2k, axis=0), np.full((z2k.shape[1],) * 2, np.nan))
        return self._pieces(keep, np.mean(z2k, axis=0), np.atleast_2d(np.cov(z2k, rowvar=False)))

    def compare_moments(self, moments, options: FRDOptions, drop: np.ndarray | None = None):
        """As :meth:`compare_rows`, from chunk-accumulated moments of the normalised candidate."""
        keep = self._columns(moments.finite, options, drop)
        return self._pieces(keep, moments.mean[keep], np.atleast_2d(moments.covariance()[np.ix_(keep, keep)]))

    def _columns(self, finite2: np.ndarray, options: FRDOptions, drop: np.ndarray | None) -> np.ndarray:
        keep = self.kept.copy()
        if options.rules.drop_nonfinite_columns:
            keep &= finite2
        if drop is not None:
            keep &= ~drop
        return keep

    def _pieces(self, keep: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray):
        inner = keep[self.kept]  # positions among D1's kept columns
        names = [n for n, k in zip(self.names, keep) if k]
        return names, self.mu[inner], self.sigma[np.ix_(inner, inner)], mu2, sigma2

    def check_compatible(self, options: FRDOptions) -> None:
        """Refuse to compare with options other than the ones the file was made with."""
        if options.statistics_fingerprint() == self.fingerprint:
            return
        wanted = options.to_dict()
        keys = [name for name, spec in specs(FRDOptions).items() if spec.statistics]
        diffs = [
            f"{{option:{k}}}: file has {self.options.get(k)!r}, requested {wanted.get(k)!r}"
            for k in keys
            if self.options.get(k) != wanted.get(k)
        ]
        if not diffs:
            diffs = ["the extraction pipeline or pyradiomics parameters differ"]
        raise StatsMismatch(
            "the reference statistics were made with other settings; recompute them with "
            "`frd stats` using the same options (" + "; ".join(diffs) + ")"
        )

    # ----- files -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the statistics as a ``.frdstats`` file (atomically); returns its path."""
        path = Path(path)
        header = {
            "format": FORMAT,
            "names": self.names,
            "n": self.n,
            "ndim": self.ndim,
            "normalizer": {
                "kind": self.normalizer.kind,
                "lo": self.normalizer.lo,
                "hi": self.normalizer.hi,
                "guarded": self.normalizer.guarded,
            },
            "options": self.options,
            "fingerprint": self.fingerprint,
            "versions": self.versions,
        }
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header)),
                centre=self.normalizer.centre,
                scale=self.normalizer.scale,
                raw_mean=self.raw_mean if self.raw_mean is not None else np.array([]),
                raw_std=self.raw_std if self.raw_std is not None else np.array([]),
                kept=self.kept,
                mu=self.mu,
                sigma=self.sigma,
            )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReferenceStats:
        """Read a ``.frdstats`` file; :class:`~frd.errors.InputError` says why one cannot be."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such statistics file")
        what = f"{path}: not an frd statistics file (made by `frd stats`)"
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k] for k in ("centre", "scale", "kept", "mu", "sigma")}
                raw = {k: data[k] if k in data and data[k].size else None for k in ("raw_mean", "raw_std")}
        except KeyError as exc:
            raise InputError(f"{what}: it has no {exc} entry") from None
        except (OSError, ValueError, EOFError):  # not a zip of arrays, truncated, or pickled data
            raise InputError(f"{what}: it is not a readable NumPy archive") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else None
            raise InputError(f"{path}: unsupported statistics format {found!r} (this frd reads {FORMAT!r})")
        norm = header["normalizer"]
        return cls(
            names=header["names"],
            n=header["n"],
            normalizer=Normalizer(
                norm["kind"], arrays["centre"], arrays["scale"], norm["lo"], norm["hi"], norm["guarded"]
            ),
            kept=arrays["kept"].astype(bool),
            mu=arrays["mu"],
            sigma=arrays["sigma"],
            ndim=header["ndim"],
            options=header["options"],
            fingerprint=header["fingerprint"],
            versions=header.get("versions", {}),
            raw_mean=raw["raw_mean"],
            raw_std=raw["raw_std"],
        )


def check_stats_options(options: FRDOptions) -> None:
    """Refuse options that reference statistics cannot serve: both need the candidate's rows."""
    if options.resolved_norm_ref == "joint":
        default = " (v0's default)" if options.norm_ref is None else ""
        raise OptionError(
            "norm_ref",
            f"joint{default} depends on the candidate set, so reference statistics "
            "cannot hold it; use {option:norm_ref} d1 (v1's default) or independent",
        )
    if options.match_sample_count:
        raise OptionError("match_sample_count", "needs both sets' images; it cannot be used with reference statistics")


def fit_normalizer(base: np.ndarray, options: FRDOptions) -> Normalizer:
    """The normaliser of ``base`` for the options (v1: unguarded z-score; else guarded)."""
    lo, hi = options.resolved_norm_range
    # v1 uses the raw z-score (no guard); the reference guards it otherwise.
    guarded = not options.rules.drop_nonfinite_columns
    return Normalizer.fit(base, options.resolved_norm_type, lo, hi, guarded)
