"""2D embeddings of both sets in the normalised feature space, and paired-image changes."""

from __future__ import annotations

import numpy as np

from ..results import Analysis
from .ood import normalised_rows


def pca_2d(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sets projected on the first two principal axes of their pooled rows.

    Returns (reference xy, candidate xy, explained variance ratio of the two axes).
    """
    z1, z2 = normalised_rows(analysis)
    pooled = np.vstack([z1, z2])
    centred = pooled - pooled.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    ratio = (s[:2] ** 2) / max(float((s**2).sum()), 1e-300)
    return xy[: len(z1)], xy[len(z1) :], ratio


def tsne_2d(analysis: Analysis, seed: int = 0):
    """t-SNE of both sets when scikit-learn is installed, else None."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        return None
    z1, z2 = normalised_rows(analysis)
    pooled = np.vstack([z1, z2])
    perplexity = max(2.0, min(30.0, (len(pooled) - 1) / 3))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(pooled)
    return xy[: len(z1)], xy[len(z1) :]


def paired_changes(analysis: Analysis, top: int = 10) -> list[dict]:
    """For images present under the same name in both sets, how far each one moved."""
    if not analysis.ref_items or not analysis.cand_items:
        return []
    z1, z2 = normalised_rows(analysis)
    ref_index = {item.name: i for i, item in enumerate(analysis.ref_items)}
    pairs = [
        (item.name, ref_index[item.name], j) for j, item in enumerate(analysis.cand_items) if item.name in ref_index
    ]
    changes = []
    for name, i, j in pairs:
        diff = z2[j] - z1[i]
        k = int(np.argmax(np.abs(diff)))
        changes.append(
            {
                "name": name,
                "distance": float(np.linalg.norm(diff)),
                "most_changed_feature": analysis.names[k],
                "change": float(diff[k]),
            }
        )
    return sorted(changes, key=lambda c: -c["distance"])[:top]
