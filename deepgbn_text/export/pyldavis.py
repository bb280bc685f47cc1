"""pyLDAvis inputs for layer 1: ``pyLDAvis.prepare(**json.load(open(path)))`` draws the usual LDAvis page."""
from __future__ import annotations

import json
import os

import numpy as np
import scipy.sparse as sp

from ..storage.atomic import write_text


def _rows(matrix: np.ndarray) -> list[list[float]]:
    return [[float(f"{x:.6g}") for x in row] for row in matrix]


def pyldavis_inputs(topic_term: np.ndarray, theta: np.ndarray, counts: sp.spmatrix, vocab: list[str]) -> dict:
    """topic_term_dists (K x V), doc_topic_dists (D x K), doc_lengths, vocab and term_frequency; rows sum to 1."""
    tt = np.asarray(topic_term, dtype=np.float64)
    tt = tt / np.maximum(tt.sum(1, keepdims=True), 1e-300)
    dt = np.asarray(theta, dtype=np.float64)
    total = dt.sum(1, keepdims=True)
    dt = np.where(total > 0, dt / np.where(total > 0, total, 1), 1.0 / dt.shape[1])  # empty documents: uniform
    counts = sp.csr_matrix(counts)
    return {"topic_term_dists": _rows(tt), "doc_topic_dists": _rows(dt),
            "doc_lengths": np.asarray(counts.sum(1)).ravel().astype(int).tolist(), "vocab": list(vocab),
            "term_frequency": np.asarray(counts.sum(0)).ravel().astype(int).tolist()}


def write_pyldavis(path: str | os.PathLike[str], topic_term: np.ndarray, theta: np.ndarray, counts: sp.spmatrix,
                   vocab: list[str]) -> None:
    write_text(path, json.dumps(pyldavis_inputs(topic_term, theta, counts, vocab), ensure_ascii=False,
                                separators=(",", ":")))
