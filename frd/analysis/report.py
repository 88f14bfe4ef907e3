"""A self-contained HTML report of a comparison (charts are embedded matplotlib PNGs).

It shows the value with its confidence interval, the set sizes and skipped files, the
settings, the split of d² into its mean and covariance terms, contributions per feature
class and per filter, the top features, a 2D embedding of both sets, the sample-size
curve, and — when some features are degenerate — the robust value beside the published one.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from ..contributions import feature_class, image_filter
from ..extras import require
from ..results import FRDResult


def _figure_png(draw, size=(6.4, 3.6)) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=110)
    try:
        draw(ax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar_groups(groups: dict, title: str):
    def draw(ax):
        names = list(groups)
        shares = [groups[n]["share_of_d2"] * 100 for n in names]
        order = np.argsort(shares)
        ax.barh([names[i] for i in order], [shares[i] for i in order], color="#3b6ea5")
        ax.set_xlabel("share of d² (%)")
        ax.set_title(title)

    return draw


def _img(png: str, alt: str) -> str:
    alt = html.escape(alt)
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{png}"><figcaption>{alt}</figcaption></figure>'


def build_report(result: FRDResult, *, curve: list[dict] | None = None) -> str:
    """The report as one HTML string (no external resources)."""
    from .embedding import paired_changes, pca_2d, tsne_2d

    analysis = result.rows()
    contributions = analysis.contributions
    if contributions is None:
        raise ValueError("a report needs a distance (two images or more per set)")
    figures = []
    split = result.d2_split

    def draw_split(ax):
        ax.bar(
            ["mean term", "covariance term"],
            [split["mean_term"], split["covariance_term"]],
            color=["#d9822b", "#3b6ea5"],
        )
        ax.set_ylabel("contribution to d²")
        ax.set_yscale("symlog")
        ax.set_title("d² = mean term + covariance term")

    figures.append(_img(_figure_png(draw_split), "Split of d² into its mean and covariance terms"))
    figures.append(
        _img(
            _figure_png(_bar_groups(contributions.by_group(feature_class), "by feature class")),
            "Contribution to d² per feature class",
        )
    )
    figures.append(
        _img(
            _figure_png(_bar_groups(contributions.by_group(image_filter), "by filter"), (6.4, 4.2)),
            "Contribution to d² per image filter",
        )
    )
    top = contributions.top(15)

    def draw_top(ax):
        labels = [t["feature"] for t in top][::-1]
        ax.barh(labels, [t["share_of_d2"] * 100 for t in top][::-1], color="#3b6ea5")
        ax.set_xlabel("share of d² (%)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("top features")

    figures.append(_img(_figure_png(draw_top, (7.5, 5.0)), "Features contributing most to d²"))

    if analysis.ref_rows is not None:
        ref_xy, cand_xy, ratio = pca_2d(analysis)

        def draw_pca(ax):
            ax.scatter(ref_xy[:, 0], ref_xy[:, 1], label="reference", alpha=0.7, color="#3b6ea5")
            ax.scatter(cand_xy[:, 0], cand_xy[:, 1], label="candidate", alpha=0.7, color="#d9822b", marker="^")
            ax.set_xlabel(f"PC1 ({ratio[0]:.0%})")
            ax.set_ylabel(f"PC2 ({ratio[1]:.0%})")
            ax.legend()
            ax.set_title("PCA of the normalised features")

        figures.append(_img(_figure_png(draw_pca, (5.5, 4.5)), "PCA embedding of both sets"))
        tsne = tsne_2d(analysis)
        if tsne is not None:

            def draw_tsne(ax):
                ax.scatter(tsne[0][:, 0], tsne[0][:, 1], label="reference", alpha=0.7, color="#3b6ea5")
                ax.scatter(tsne[1][:, 0], tsne[1][:, 1], label="candidate", alpha=0.7, color="#d9822b", marker="^")
                ax.legend()
                ax.set_title("t-SNE of the normalised features")

            figures.append(_img(_figure_png(draw_tsne, (5.5, 4.5)), "t-SNE embedding of both sets"))
    if curve:

        def draw_curve(ax):
            sizes = [c["size"] for c in curve]
            means = np.array([c["mean"] for c in curve])
            stds = np.array([c["std"] for c in curve])
            ax.errorbar(sizes, means, yerr=stds, marker="o", capsize=3)
            ax.set_xlabel("images per set")
            ax.set_ylabel("FRD")
            ax.set_title("sample-size curve (mean ± sd over random subsets)")

        figures.append(_img(_figure_png(draw_curve), "FRD at growing subsample sizes"))

    esc = html.escape
    value = f"{result.value:.6g}"
    ci = ""
    if result.ci:
        c = result.ci
        ci = (
            f" <span class=ci>({c['level']:.0%} CI {c['low']:.4g} – {c['high']:.4g}, "
            f"{c['resamples']} bootstrap resamples)</span>"
        )
    robust = ""
    if result.robust and result.robust["frd"] != result.value:
        robust = (
            f"<p class=warn>Robust value (degenerate features dropped): <b>{result.robust['frd']:.6g}</b> "
            f"— published definition: <b>{value}</b>. Rule: {esc(result.robust['rule'])}; dropped: "
            f"{esc(', '.join(result.robust['dropped_features']))}</p>"
        )
    warnings = "".join(
        f"<p class=warn>⚠ {esc(w['message'])}<br><small>"
        + esc(", ".join(f"{f['feature']} ({f['share_of_d2']:.1%} of d²)" for f in w["features"][:10]))
        + "</small></p>"
        for w in result.warnings
    )
    skipped = "".join(
        f"<li>[{esc(s.get('set', ''))}] {esc(s['name'])}: {esc(s['reason'])}</li>" for s in result.skipped
    )
    rows = "".join(
        f"<tr><td>{esc(t['feature'])}</td><td>{t['smd']:.3g}</td><td>{t['mean_term']:.3g}</td>"
        f"<td>{t['covariance_term']:.3g}</td><td>{t['share_of_d2']:.1%}</td></tr>"
        for t in top
    )
    pairs = paired_changes(analysis) if analysis.ref_rows is not None else []
    paired = ""
    if pairs:
        paired = (
            "<h2>Images that changed most (same name in both sets)</h2><table><tr><th>image</th>"
            "<th>distance</th><th>most changed feature</th><th>change (z)</th></tr>"
            + "".join(
                f"<tr><td>{esc(p['name'])}</td><td>{p['distance']:.3g}</td><td>{esc(p['most_changed_feature'])}</td><td>{p['change']:.3g}</td></tr>"
                for p in pairs
            )
            + "</table>"
        )
    settings = esc(json.dumps(result.options, indent=1))
    versions = esc(json.dumps(result.versions))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FRD report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}
h1{{font-size:1.6em}} .value{{font-size:2.2em;font-weight:700}} .ci{{font-size:.5em;color:#555;font-weight:400}}
.warn{{background:#fff4e5;border-left:4px solid #d9822b;padding:.5em 1em}}
figure{{display:inline-block;margin:.5em}} img{{max-width:100%}}
table{{border-collapse:collapse;font-size:.85em}} td,th{{border:1px solid #ddd;padding:.25em .5em;text-align:left}}
pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}}</style>
</head><body>
<h1>Fréchet Radiomic Distance ({esc(result.version)}, {result.ndim}D)</h1>
<p class=value>{value}{ci}</p>
<p>scale: {esc(result.to_dict()["scale"])}; d² = {result.d2:.6g}
(mean term {split["mean_term"]:.4g}, covariance term {split["covariance_term"]:.4g});
reference: {result.n_reference} images, candidate: {result.n_candidate} images,
{len(result.features_used)} features.</p>
{robust}{warnings}
<h2>Charts</h2>
{"".join(figures)}
<h2>Top features</h2>
<table><tr><th>feature</th><th>standardised mean difference</th><th>mean term</th><th>covariance term</th>
<th>share of d²</th></tr>{rows}</table>
{paired}
<h2>Skipped files</h2><ul>{skipped or "<li>none</li>"}</ul>
<h2>Settings</h2><pre>{settings}</pre>
<h2>Versions</h2><pre>{versions}</pre>
</body></html>
"""


def enrich_result(result: FRDResult, options, *, bootstrap: int = 0, report: bool = False, seed: int = 0) -> str | None:
    """Add a bootstrap CI to ``result`` (``bootstrap`` resamples; 100 for a report without
    one asked) and return the HTML report when ``report``. Needs the rows in memory; when
    they are not (statistics file, chunked statistics), a notice says so."""
    from .uncertainty import bootstrap_ci, sample_size_curve

    if report:
        require("report", "the HTML report")
    curve = None
    if bootstrap or report:
        drop = result.rows().negligible if options.robust else None
        try:
            result.ci = bootstrap_ci(result.rows(), options, resamples=bootstrap or 100, seed=seed, drop=drop)
            curve = sample_size_curve(result.rows(), options, seed=seed) if report else None
        except ValueError as exc:
            result.notices.append(f"no confidence interval: {exc}")
    return build_report(result, curve=curve) if report else None


def write_report(result: FRDResult, path: str | Path, *, curve: list[dict] | None = None) -> Path:
    """Write the HTML report of ``result`` to ``path``."""
    path = Path(path)
    path.write_text(build_report(result, curve=curve), encoding="utf-8")
    return path
