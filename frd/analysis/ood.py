"""Out-of-domain detection with radiomic features (the reference tool's method, and more).

Image level: each test image's score is its L2 distance from the reference mean in the
normalised feature space; the threshold is the 95th percentile of the reference images'
own scores under a gaussian, t or counting (empirical) assumption, with p-values under
the same assumption. Optionally a seeded share of the reference is held out to estimate
the threshold (the mean then comes from the rest). Dataset level: nFRD = 2·|AUC − 0.5|,
the AUC of the scores separating reference from test images (0 = indistinguishable,
1 = fully separated).

The t assumption mirrors frd-score 1.0.1, whose t statistic divides by the standard error
of the reference scores (σ/√n), not by σ.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..errors import InputError, OptionError
from ..results import Analysis, FRDResult, json_safe

ASSUMPTIONS = ("gaussian", "t", "counting")


@dataclass
class OODResult:
    """Per-image out-of-domain scores, decisions and p-values, and the sets' AUC, nFRD and FRD."""

    names: list[str]
    scores: np.ndarray
    p_values: np.ndarray
    predictions: np.ndarray
    threshold: float
    assumption: str
    reference_scores: np.ndarray
    auc: float
    frd: float | None = None  # the sets' FRD, when the test set has two images or more
    warnings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    result: FRDResult | None = field(default=None, repr=False)  # the FRDResult the screening came from

    @property
    def nfrd(self) -> float:
        """The dataset-level score 2·|AUC − 0.5|: 0 indistinguishable, 1 fully separated."""
        return 2.0 * abs(self.auc - 0.5)

    def to_dict(self) -> dict:
        """The JSON form (non-finite numbers as null), as `frd ood --json` and the service give it."""
        return json_safe(
            {
                "frd": self.frd,
                "warnings": self.warnings,
                "skipped": self.skipped,
                "threshold": self.threshold,
                "assumption": self.assumption,
                "n_flagged": int(self.predictions.sum()),
                "n_test": int(len(self.scores)),
                "auc": self.auc,
                "nfrd": self.nfrd,
                "images": [
                    {"name": n, "score": float(s), "ood": bool(o), "p_value": float(p)}
                    for n, s, o, p in zip(self.names, self.scores, self.predictions, self.p_values)
                ],
            }
        )

    def write_csv(self, folder: str | Path) -> Path:
        """Write ``ood_predictions.csv`` (the reference tool's columns) into ``folder``."""
        return write_csv(self.to_dict(), folder)


def write_csv(payload: dict, folder: str | Path) -> Path:
    """``ood_predictions.csv`` of a screening's JSON form (local or remote) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ood_predictions.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "ood_score", "ood_prediction", "p_value"])
        for image in payload["images"]:
            writer.writerow(
                [image["name"], repr(float(image["score"])), bool(image["ood"]), repr(float(image["p_value"]))]
            )
    return path


def normalised_rows(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """Both sets' rows normalised as for the FRD, restricted to the features it used."""
    if analysis.ref_rows is None or analysis.cand_rows is None:
        raise ValueError("OOD detection needs both sets' features in memory, not statistics")
    stats = analysis.ref_stats
    columns = [stats.names.index(n) for n in analysis.names]
    z1 = stats.normalizer.apply(analysis.ref_rows)[:, columns]
    z2 = stats.normalizer.apply(analysis.cand_rows)[:, columns]
    return np.asarray(z1, np.float64), np.asarray(z2, np.float64)


def auc_score(negatives: np.ndarray, positives: np.ndarray) -> float:
    """ROC AUC of scores (positives should score higher), ties counted half (Mann–Whitney)."""
    neg, pos = np.asarray(negatives), np.asarray(positives)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def check_ood_options(assumption: str, val_frac: float) -> None:
    """The screening's own options, checked before any work."""
    if assumption not in ASSUMPTIONS:
        raise OptionError("assumption", f"must be one of {', '.join(ASSUMPTIONS)}, not {assumption!r}")
    if isinstance(val_frac, bool) or not isinstance(val_frac, (int, float)) or not 0 < val_frac < 1:
        raise OptionError("val_frac", f"must be a share between 0 and 1 (exclusive), not {val_frac!r}")


def ood(
    reference,
    test,
    *,
    reference_masks=None,
    test_masks=None,
    options=None,
    assumption: str = "gaussian",
    use_val_set: bool = False,
    val_frac: float = 0.1,
    seed: int | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    cache_dir=None,
    progress: bool = True,
    strict: bool = False,
    on_progress=None,
    scheduler=None,
    **overrides,
) -> OODResult:
    """Screen every ``test`` image (folder, zip or files; one image is enough) against the
    ``reference`` images, and give the sets' FRD when the test set has two images or more.

    Options and running arguments are :func:`frd.compare`'s.
    """
    from ..pipeline import compare_sets, is_stats_source, make_options
    from ..stats import ReferenceStats

    check_ood_options(assumption, val_frac)
    if isinstance(reference, ReferenceStats) or is_stats_source(reference):
        raise InputError("out-of-domain screening needs the reference images' features, not reference statistics")
    result = compare_sets(
        reference,
        test,
        reference_masks=reference_masks,
        candidate_masks=test_masks,
        options=make_options(options, overrides),
        workers=workers,
        use_cache=use_cache,
        cache_dir=cache_dir,
        progress=progress,
        strict=strict,
        on_progress=on_progress,
        scheduler=scheduler,
        chunk_rows=None,
        labels=("reference", "test"),
        min_candidate=1,
    )
    screening = detect(result.rows(), assumption=assumption, use_val_set=use_val_set, val_frac=val_frac, seed=seed)
    screening.frd = result.value if result.n_candidate >= 2 else None
    screening.warnings, screening.skipped, screening.result = result.warnings, result.skipped, result
    return screening


def detect(
    analysis: Analysis,
    *,
    assumption: str = "gaussian",
    use_val_set: bool = False,
    val_frac: float = 0.1,
    seed: int | None = None,
) -> OODResult:
    """Scores, threshold, decisions and p-values of the candidate rows of ``analysis``."""
    check_ood_options(assumption, val_frac)
    z1, z2 = normalised_rows(analysis)
    rng = np.random.default_rng(seed)
    if use_val_set:
        n_val = max(1, int(val_frac * len(z1)))
        val = rng.choice(len(z1), n_val, replace=False)
        train = np.setdiff1d(np.arange(len(z1)), val)
        if len(train) == 0:
            raise ValueError("the reference set is too small to hold out a validation split")
        centre, val_rows = z1[train].mean(axis=0), z1[val]
    else:
        centre, val_rows = z1.mean(axis=0), z1
    scores = np.linalg.norm(z2 - centre, axis=1)
    ref_scores = np.linalg.norm(val_rows - centre, axis=1)
    mu, sigma = float(ref_scores.mean()), float(ref_scores.std())
    if assumption == "gaussian":
        threshold = mu + sigma * NormalDist().inv_cdf(0.95)
        p_values = np.array([1 - NormalDist().cdf((s - mu) / max(sigma, 1e-10)) for s in scores])
    elif assumption == "t":
        from scipy import stats as sps

        dof = max(len(ref_scores) - 1, 1)
        threshold = mu + sigma * float(sps.t.ppf(0.95, dof))
        p_values = 1 - sps.t.cdf((scores - mu) / max(sigma / np.sqrt(len(ref_scores)), 1e-10), dof)
    else:
        threshold = float(np.percentile(ref_scores, 95))
        p_values = np.array([(ref_scores > s).sum() / len(ref_scores) for s in scores])
    names = [i.name for i in analysis.cand_items] if analysis.cand_items else [str(i) for i in range(len(z2))]
    return OODResult(
        names=names,
        scores=scores,
        p_values=np.asarray(p_values, dtype=float),
        predictions=scores > threshold,
        threshold=float(threshold),
        assumption=assumption,
        reference_scores=ref_scores,
        auc=auc_score(ref_scores, scores),
    )
