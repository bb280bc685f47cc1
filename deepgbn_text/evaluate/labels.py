"""Label-based scores of document representations: clustering purity / NMI and a linear classifier."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserInputError


def read_labels(path: str | os.PathLike[str], n_docs: int | None = None) -> list[str]:
    """One label per line (blank lines are labels too, so the rows stay aligned with the documents)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserInputError(f"{p}: labels file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{p}: labels file is not UTF-8 text") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = [line.strip() for line in lines]
    if n_docs is not None and len(labels) != n_docs:
        raise UserInputError(f"{p}: {len(labels)} labels for {n_docs} documents; give one label per document line")
    return labels


def _proportions(theta: np.ndarray) -> np.ndarray:
    theta = np.asarray(theta, dtype=float)
    return theta / np.maximum(theta.sum(axis=1, keepdims=True), 1e-12)


def purity(labels_true: Sequence[object], clusters: Sequence[object]) -> float:
    """Share of documents whose cluster's most common true label is their own."""
    labels_true, clusters = np.asarray(labels_true), np.asarray(clusters)
    if labels_true.shape != clusters.shape or labels_true.size == 0:
        raise ValueError("labels and clusters must be non-empty and of the same length")
    _, true_codes = np.unique(labels_true, return_inverse=True)
    _, cluster_codes = np.unique(clusters, return_inverse=True)
    table = np.zeros((cluster_codes.max() + 1, true_codes.max() + 1), dtype=np.int64)
    np.add.at(table, (cluster_codes, true_codes), 1)
    return float(table.max(axis=1).sum() / labels_true.size)


def clustering_scores(theta: np.ndarray, labels: Sequence[object]) -> dict[str, float]:
    """Cluster each document by its argmax topic; purity and NMI against ``labels``."""
    from sklearn.metrics import normalized_mutual_info_score

    theta = np.asarray(theta)
    if theta.shape[0] != len(labels):
        raise UserInputError(f"{len(labels)} labels for {theta.shape[0]} documents")
    clusters = np.argmax(theta, axis=1)
    return {"purity": purity(labels, clusters), "nmi": float(normalized_mutual_info_score(labels, clusters))}


def classification_accuracy(
    train_theta: np.ndarray,
    train_labels: Sequence[object],
    test_theta: np.ndarray,
    test_labels: Sequence[object],
    seed: int = 0,
) -> float:
    """Accuracy of a logistic regression fitted on the training documents' topic proportions."""
    from sklearn.linear_model import LogisticRegression

    if len(train_labels) != np.shape(train_theta)[0] or len(test_labels) != np.shape(test_theta)[0]:
        raise UserInputError("the number of labels does not match the number of documents")
    if len(set(train_labels)) < 2:
        raise UserInputError("the training labels have a single class; a classifier needs at least two")
    clf = LogisticRegression(max_iter=1000, random_state=seed)
    clf.fit(_proportions(train_theta), np.asarray(train_labels))
    return float(np.mean(clf.predict(_proportions(test_theta)) == np.asarray(test_labels)))
