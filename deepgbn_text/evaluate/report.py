"""One evaluator for every model: completion perplexity plus per-layer topic metrics, as a dict.

A model needs ``topics_`` (widths, bottom first), ``vocab_``, ``topic_word(layer)`` and
``word_distribution(observed, layer=...)``; ``topic_children(layer)`` (for the hierarchy metrics),
``transform_layers(X) -> [theta per layer]`` (for the label metrics, and for the dead-topic share when the
model has no ``topic_prevalence_``) and ``perplexity_layers`` (the layers whose word distribution is
defined; default all) are used when present.
:func:`compare_models` fits several models on the same counts and scores them all this way.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..storage.corpus import Corpus
from ..errors import UserInputError
from .coherence import (DEFAULT_TOP_N, GENSIM_MEASURES, DocumentCooccurrence, gensim_coherence, nanmean,
                        npmi_per_topic, reference_texts, top_word_ids)
from .diversity import DEFAULT_TD_TOP_N, dead_topics, near_duplicate_share, topic_diversity, topic_quality
from .hierarchy import (DEFAULT_MIN_EDGE, HIERARCHY_TOP_N, corpus_word_distribution, hierarchy_scores,
                        hierarchy_summary, parent_child_npmi, sibling_diversity, specialisation)
from .labels import classification_accuracy, clustering_scores
from .perplexity import completion_perplexity, completion_split

HELDOUT_FRACTION = 0.2
DEEP_MODELS = ("ggbn", "gbn")


class _LayerScorer:
    """``word_distribution(observed)`` of one layer of a model, and ``word_probabilities`` where the
    model has it (for :func:`completion_perplexity`)."""

    def __init__(self, model: Any, layer: int) -> None:
        self.model, self.layer = model, layer
        if hasattr(model, "word_probabilities"):
            self.word_probabilities = functools.partial(model.word_probabilities, layer=layer)

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        return self.model.word_distribution(observed, layer=self.layer)


def _inference_note(model: Any) -> str:
    note = getattr(model, "inference", None)
    if isinstance(note, str) and note:
        return note
    return "encoder posterior mean (Weibull upward-downward encoder) on the observed counts"


def evaluate_model(
    model: Any,
    test_counts: sp.spmatrix,
    reference: sp.spmatrix | None = None,
    *,
    reference_name: str = "reference",
    seed: int = 0,
    heldout_fraction: float = HELDOUT_FRACTION,
    top_n: int = DEFAULT_TOP_N,
    td_top_n: int = DEFAULT_TD_TOP_N,
    measures: Sequence[str] = GENSIM_MEASURES,
    min_edge: float = DEFAULT_MIN_EDGE,
    train_counts: sp.spmatrix | None = None,
    train_labels: Sequence[str] | None = None,
    test_labels: Sequence[str] | None = None,
    topic_details: bool = True,
    hierarchy_top_n: int = HIERARCHY_TOP_N,
) -> dict[str, Any]:
    """Score ``model`` on test documents (docs x V counts in the model's vocabulary).

    Perplexity: document completion (``heldout_fraction`` of each test document's tokens held out,
    shuffled with ``seed``), every layer (layer 1 = the whole model; layer l = the words reconstructed
    from layer l alone). Coherence of every layer's topics on ``reference`` (default: the test
    documents): our NPMI of the top ``top_n`` words plus gensim's ``measures``; TD of the top
    ``td_top_n``; TQ = NPMI x TD; near-duplicate and dead-topic shares; specialisation (mean cosine
    distance of the topics from the reference's word distribution); for layers above the first,
    parent-child NPMI and sibling diversity to the layer below, and TraCo's PCC, PCD, SD and PnCD of
    the top ``hierarchy_top_n`` words (``result["hierarchy"]`` averages them over the tree as TraCo
    does). Dead topics need prevalence: the model's ``topic_prevalence_`` (mean topic shares on its
    training documents) or else the mean theta share of ``transform_layers`` on the test documents.
    With ``test_labels``: purity and NMI of argmax theta on the test documents;
    with ``train_counts`` and ``train_labels`` too: logistic-regression accuracy train -> test.
    """
    vocab = list(model.vocab_)
    test = sp.csr_matrix(test_counts)
    if test.shape[1] != len(vocab):
        raise UserInputError(f"the test matrix has {test.shape[1]} columns but the model's vocabulary {len(vocab)} words")
    keep = np.diff(test.indptr) > 0
    if test_labels is not None:
        if len(test_labels) != test.shape[0]:
            raise UserInputError(f"{len(test_labels)} test labels for {test.shape[0]} test documents")
        test_labels = [lab for lab, k in zip(test_labels, keep) if k]
    test = test[keep]
    if test.shape[0] == 0:
        raise UserInputError("no test document contains a word of the model's vocabulary")
    if reference is None:
        reference, reference_name = test, "test documents"
    reference = sp.csr_matrix(reference)
    if reference.shape[1] != len(vocab):
        raise UserInputError(f"the reference matrix has {reference.shape[1]} columns but the vocabulary {len(vocab)} words")

    observed, heldout = completion_split(test, heldout_fraction, seed=seed)
    n_heldout = int(heldout.sum())
    if n_heldout == 0:
        raise UserInputError("the test documents are too short: no token is held out for document completion")
    widths = list(model.topics_)
    n_layers = len(widths)
    cooc = DocumentCooccurrence(reference)
    texts = reference_texts(reference, vocab) if measures else []
    topic_words = [model.topic_word(layer) for layer in range(1, n_layers + 1)]

    # gensim builds its co-occurrence statistics once for every layer's topics together
    all_top = [[vocab[j] for j in row] for tw in topic_words for row in top_word_ids(tw, top_n)]
    gensim_scores: dict[str, list[np.ndarray]] = {}
    for measure in measures:
        values = gensim_coherence(all_top, texts, vocab, measure)
        gensim_scores[measure] = np.split(values, np.cumsum(widths)[:-1])

    label_info: dict[str, Any] = {}
    thetas_test = thetas_train = None
    if test_labels is not None and hasattr(model, "transform_layers"):
        thetas_test = model.transform_layers(test)
        if train_labels is not None and train_counts is not None:
            train = sp.csr_matrix(train_counts)
            if len(train_labels) != train.shape[0]:
                raise UserInputError(f"{len(train_labels)} training labels for {train.shape[0]} training documents")
            tkeep = np.diff(train.indptr) > 0
            thetas_train = model.transform_layers(train[tkeep])
            train_labels = [lab for lab, k in zip(train_labels, tkeep) if k]

    prevalence, prevalence_source = _prevalence(model, test, thetas_test)
    corpus_word = corpus_word_distribution(reference)
    scored_layers = set(getattr(model, "perplexity_layers", range(1, n_layers + 1)))

    layers, pairs = [], []
    for index in range(n_layers):
        layer = index + 1
        npmi_topics = npmi_per_topic(topic_words[index], cooc, top_n)
        record: dict[str, Any] = {
            "layer": layer,
            "n_topics": widths[index],
            "perplexity": (completion_perplexity(_LayerScorer(model, layer), observed, heldout)
                           if layer in scored_layers else None),
            "npmi": nanmean(npmi_topics),
        }
        for measure in measures:
            record[measure] = nanmean(gensim_scores[measure][index])
        record["td"] = topic_diversity(topic_words[index], td_top_n)
        record["tq"] = topic_quality(record["npmi"], record["td"])
        record["near_duplicate_share"] = near_duplicate_share(topic_words[index], top_n)
        record["dead_topic_share"] = (None if prevalence is None else
                                      float(dead_topics(prevalence[index]).mean()))
        record["specialisation"] = specialisation(topic_words[index], corpus_word)
        if layer > 1 and hasattr(model, "topic_children"):
            children = model.topic_children(layer)
            record["parent_child_npmi"] = parent_child_npmi(topic_words[index], topic_words[index - 1], children,
                                                            cooc, top_n, min_edge)
            record["sibling_diversity"] = sibling_diversity(topic_words[index - 1], children, td_top_n, min_edge)
            scores = hierarchy_scores(topic_words[index], topic_words[index - 1], children, cooc,
                                      hierarchy_top_n, min_edge)
            pairs.append(scores)
        else:
            record["parent_child_npmi"] = record["sibling_diversity"] = None
            scores = {"pcc": None, "pcd": None, "sd": None, "pncd": None, "n_edges": None}
        record |= scores
        if thetas_test is not None:
            record |= clustering_scores(thetas_test[index], test_labels)
            if thetas_train is not None:
                record["accuracy"] = classification_accuracy(thetas_train[index], train_labels,
                                                             thetas_test[index], test_labels, seed=seed)
        if topic_details:
            record["topics"] = [
                {"words": [vocab[j] for j in row], "npmi": None if not np.isfinite(v) else float(v)}
                for row, v in zip(top_word_ids(topic_words[index], top_n), npmi_topics)
            ]
        layers.append(record)
    if thetas_test is not None:
        label_info = {"n_test_labelled": len(test_labels),
                      "n_train_labelled": len(train_labels) if thetas_train is not None else 0}

    return {
        "protocol": {
            "perplexity": "document completion, pooled over held-out tokens",
            "heldout_fraction": heldout_fraction,
            "split_seed": seed,
            "inference": _inference_note(model),
            "n_test_docs": int(test.shape[0]),
            "n_heldout_tokens": n_heldout,
            "coherence_reference": reference_name,
            "n_reference_docs": cooc.n_docs,
            "coherence_top_n": top_n,
            "npmi": "whole-document co-occurrence on the reference",
            "gensim_measures": list(measures),
            "td_top_n": td_top_n,
            "min_edge": min_edge,
            "hierarchy_top_n": hierarchy_top_n,
            "prevalence": prevalence_source,
            "perplexity_layers": sorted(scored_layers),
            **({"labels": label_info} if label_info else {}),
        },
        "layers": layers,
        "hierarchy": hierarchy_summary(pairs, topic_words[-1] if pairs else None, hierarchy_top_n),
    }


def _prevalence(model: Any, test: sp.csr_matrix, thetas_test: list[np.ndarray] | None
                ) -> tuple[list[np.ndarray] | None, str | None]:
    """Each layer's topic prevalence (mean share of a document) and where it came from."""
    given = getattr(model, "topic_prevalence_", None)
    if given is not None:
        return [np.asarray(p, dtype=float) for p in given], "topic_prevalence_ (the model's training documents)"
    if not hasattr(model, "transform_layers"):
        return None, None
    thetas = thetas_test if thetas_test is not None else model.transform_layers(test)
    shares = []
    for theta in thetas:
        theta = np.asarray(theta, dtype=float)
        shares.append((theta / np.maximum(theta.sum(1, keepdims=True), 1e-300)).mean(0))
    return shares, "mean theta share of transform_layers() on the test documents"


# ------------------------------------------------------------------------------- comparison
def known_models() -> list[str]:
    from ..baselines import BASELINES, HIERARCHICAL_PEERS

    return [*DEEP_MODELS, *BASELINES, *HIERARCHICAL_PEERS]


def parse_models(models: str | Sequence[str]) -> list[str]:
    """A list of model names (comma-separated string or list), checked against :func:`known_models`."""
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else [str(m).strip() for m in models]
    names = [m for m in names if m]
    if not names:
        raise UserInputError("--models is empty; name at least one of " + ", ".join(known_models()))
    unknown = [m for m in names if m not in known_models()]
    if unknown:
        raise UserInputError(f"--models: unknown model {unknown[0]!r}; choose from {', '.join(known_models())}")
    if len(set(names)) != len(names):
        raise UserInputError("--models names a model twice")
    return names


def make_model(
    name: str,
    topics: Sequence[int],
    *,
    epochs: int = 300,
    seed: int = 0,
    hidden: int = 256,
    batch_size: int | None = None,
    device: str = "auto",
    refine_steps: int = 0,
    model_options: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """An unfitted model: "ggbn" / "gbn" (GeneralizedGBN, nonlinear / linear link, all ``topics``
    layers), an LDA baseline with ``topics[0]`` topics, or a hierarchical peer built from the widths
    (hLDA: depth = the number of widths; PAM/HPAM: ``topics[0]`` sub- and ``topics[1]`` super-topics).
    ``model_options[name]``: more keyword arguments for that model (GeneralizedGBN parameters for ggbn and
    gbn, constructor options for the others)."""
    from ..baselines import BASELINES, HIERARCHICAL_PEERS
    from ..estimator import GeneralizedGBN

    topics = [int(k) for k in topics]
    if name in DEEP_MODELS:
        model = GeneralizedGBN(n_topics=topics, n_layers=len(topics), link="nonlinear" if name == "ggbn" else "linear",
                               hidden=hidden, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                               refine_steps=refine_steps)
        model.set_params(**(model_options or {}).get(name, {}))
        model.validate_params()
        return model
    if name in BASELINES:
        return BASELINES[name](n_topics=topics[0], seed=seed, **(model_options or {}).get(name, {}))
    if name in HIERARCHICAL_PEERS:
        return HIERARCHICAL_PEERS[name].from_widths(topics, seed=seed, **(model_options or {}).get(name, {}))
    raise UserInputError(f"unknown model {name!r}; choose from {', '.join(known_models())}")


def compare_models(
    train: Corpus,
    test_counts: sp.spmatrix,
    models: Sequence[str],
    topics: Sequence[int],
    *,
    epochs: int = 300,
    seed: int = 0,
    hidden: int = 256,
    batch_size: int | None = None,
    device: str = "auto",
    reference: sp.spmatrix | None = None,
    reference_name: str = "training documents",
    measures: Sequence[str] = GENSIM_MEASURES,
    refine_steps: int = 0,
    model_options: dict[str, dict[str, Any]] | None = None,
    on_model: Callable[[str, str], None] | None = None,
    save_trees: str | os.PathLike[str] | None = None,
    min_edge: float = DEFAULT_MIN_EDGE,
) -> dict[str, Any]:
    """Fit every model in ``models`` on ``train`` and score each with :func:`evaluate_model`.

    All models share the vocabulary, the training counts, the test documents and the completion
    split (seed ``seed``). The coherence reference is ``reference`` or else the training counts.
    ``on_model(name, stage)`` is called with stage "fit" / "evaluate" / "done" (for progress output).
    Models may have fewer or more layers than ``topics`` has widths (hLDA, PAM, HPAM choose their own).
    ``save_trees``: a folder where each model's tree is written as ``<model>/topics.json`` (the
    ``topics.json`` schema, 20 words per topic, edges of weight >= ``min_edge``; prevalence from the
    model, or the mean theta share on the test documents), which `ggbn-topics topics` opens.
    """
    models = parse_models(models)
    topics = [int(k) for k in topics]
    if not topics or any(k < 1 for k in topics):
        raise UserInputError(f"--topics: widths must be positive integers, got {topics}")
    built = [(name, make_model(name, topics, epochs=epochs, seed=seed, hidden=hidden, batch_size=batch_size,
                               device=device, refine_steps=refine_steps, model_options=model_options))
             for name in models]
    if reference is None:
        reference = train.counts
    results = []
    for name, model in built:
        if on_model:
            on_model(name, "fit")
        started = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - started
        if on_model:
            on_model(name, "evaluate")
        scores = evaluate_model(model, test_counts, reference, reference_name=reference_name, seed=seed,
                                measures=measures, topic_details=False, min_edge=min_edge)
        tree_path = _save_tree(model, name, save_trees, min_edge, test_counts) if save_trees is not None else None
        results.append({
            "model": name,
            "n_layers": len(model.topics_),
            "topics": list(model.topics_),
            "fit_seconds": fit_seconds,
            "epochs_run": len(model.history_) if hasattr(model, "history_") else None,
            "inference": scores["protocol"]["inference"],
            "perplexity_layers": scores["protocol"]["perplexity_layers"],
            "prevalence": scores["protocol"]["prevalence"],
            "layers": scores["layers"],
            "hierarchy": scores["hierarchy"],
            **({"tree": tree_path} if tree_path else {}),
        })
        if on_model:
            on_model(name, "done")
    protocol = dict(scores["protocol"])
    for key in ("inference", "perplexity_layers", "prevalence"):
        protocol.pop(key, None)
    return {
        "protocol": protocol,
        "data": {"n_train_docs": train.n_docs, "n_train_tokens": train.n_tokens, "vocab_size": train.n_words,
                 "n_test_docs": int(sp.csr_matrix(test_counts).shape[0])},
        "settings": {"models": models, "topics": topics, "epochs": epochs, "seed": seed, "hidden": hidden,
                     "batch_size": batch_size, "device": device},
        "results": results,
    }


TREE_TOP_N = 20
"""Words per topic in the trees ``compare --save-trees`` writes."""


def model_tree(model: Any, top_n: int = 10, min_edge: float = DEFAULT_MIN_EDGE,
               prevalence: Sequence[Sequence[float]] | None = None):  # type: ignore[no-untyped-def]
    """Any fitted model's topics and edges as a :class:`~deepgbn_text.tree.Tree` (``model.tree`` when it
    has one); ``prevalence`` (per layer) for models without ``topic_prevalence_``."""
    if hasattr(model, "tree"):
        return model.tree(top_n=top_n, min_edge=min_edge)
    from ..baselines.hierarchical import model_tree as build

    return build(model, top_n=top_n, min_edge=min_edge, prevalence=prevalence,
                 meta={"model": getattr(model, "name", type(model).__name__)})


def _save_tree(model: Any, name: str, folder: str | os.PathLike[str], min_edge: float, test: sp.spmatrix) -> str:
    """``folder/<name>/topics.json``: a folder `ggbn-topics topics` opens like a run folder."""
    from pathlib import Path

    from ..storage.atomic import write_json
    from ..runs import TOPICS_JSON

    prevalence = None
    if getattr(model, "topic_prevalence_", None) is None:
        test = sp.csr_matrix(test)
        prevalence, _ = _prevalence(model, test[np.diff(test.indptr) > 0], None)
    path = Path(folder) / name / TOPICS_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = model_tree(model, top_n=TREE_TOP_N, min_edge=min_edge, prevalence=prevalence)
    write_json(path, tree.to_dict())
    return str(path)


def summary_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model: layer-1 perplexity and coherence, the fit time."""
    rows = []
    for result in comparison["results"]:
        first = result["layers"][0]
        rows.append({"model": result["model"], "layers": result["n_layers"],
                     "topics": ",".join(str(k) for k in result["topics"]),
                     "perplexity": first["perplexity"], "npmi": first["npmi"], "c_v": first.get("c_v"),
                     "td": first["td"], "fit_seconds": result["fit_seconds"]})
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


LEVEL_COLUMNS = (("K", "n_topics", 0), ("perplexity", "perplexity", 1), ("NPMI", "npmi", 3), ("C_V", "c_v", 3),
                 ("TD", "td", 3), ("near-dup", "near_duplicate_share", 2), ("dead", "dead_topic_share", 2),
                 ("spec", "specialisation", 3))
"""(heading, record key, digits) of the per-level tables."""
HIERARCHY_COLUMNS = (("edges", "n_edges", 0), ("PCC", "pcc", 3), ("PCD", "pcd", 3), ("SD", "sd", 3),
                     ("PnCD", "pncd", 3), ("PC-NPMI", "parent_child_npmi", 3))
"""(heading, key, digits) of the hierarchy table: one row per model and pair of adjacent layers."""


def level_rows(comparison: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Per level (1 = the most specific), one row per model that has the level: model name + record."""
    levels: dict[int, list[dict[str, Any]]] = {}
    for result in comparison["results"]:
        for record in result["layers"]:
            levels.setdefault(record["layer"], []).append({"model": result["model"], **record})
    return dict(sorted(levels.items()))


def hierarchy_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and pair of adjacent layers ("2>1" = layer 2's topics over layer 1's), then one
    "tree" row per model with TraCo's averages over its whole tree; models with one layer have none."""
    rows = []
    for result in comparison["results"]:
        pairs = [r for r in result["layers"] if r["layer"] > 1 and r.get("n_edges") is not None]
        for record in pairs:
            rows.append({"model": result["model"], "pair": f"{record['layer']}>{record['layer'] - 1}",
                         **{key: record.get(key) for _, key, _ in HIERARCHY_COLUMNS}})
        if pairs and result.get("hierarchy"):
            rows.append({"model": result["model"], "pair": "tree", **result["hierarchy"]})
    return rows


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return str(int(value))
    return _fmt(float(value), digits)


def comparison_markdown(comparison: dict[str, Any], title: str | None = None) -> str:
    """Markdown tables: the layer-1 summary of :func:`summary_rows`, one table per level, and the
    hierarchy table (PCC, PCD, SD, PnCD per pair of adjacent layers), with the protocol below them."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| model | layers | topics | perplexity | NPMI | C_V | TD | fit s |",
              "|---|---:|---|---:|---:|---:|---:|---:|"]
    for row in summary_rows(comparison):
        lines.append(f"| {row['model']} | {row['layers']} | {row['topics']} | {_fmt(row['perplexity'], 1)} | "
                     f"{_fmt(row['npmi'])} | {_fmt(row['c_v'])} | {_fmt(row['td'])} | {_fmt(row['fit_seconds'], 1)} |")
    for level, rows in level_rows(comparison).items():
        lines += ["", f"Level {level}{' (most specific)' if level == 1 else ''}:", "",
                  "| model | " + " | ".join(h for h, _, _ in LEVEL_COLUMNS) + " |",
                  "|---|" + "---:|" * len(LEVEL_COLUMNS)]
        for row in rows:
            lines.append(f"| {row['model']} | " + " | ".join(_cell(row.get(k), d) for _, k, d in LEVEL_COLUMNS) + " |")
    hier = hierarchy_rows(comparison)
    if hier:
        lines += ["", "Hierarchy (pairs of adjacent layers, parent > child; \"tree\": TraCo's averages):", "",
                  "| model | pair | " + " | ".join(h for h, _, _ in HIERARCHY_COLUMNS) + " |",
                  "|---|---|" + "---:|" * len(HIERARCHY_COLUMNS)]
        for row in hier:
            lines.append(f"| {row['model']} | {row['pair']} | "
                         + " | ".join(_cell(row.get(k), d) for _, k, d in HIERARCHY_COLUMNS) + " |")
    p, d = comparison["protocol"], comparison["data"]
    lines += ["", f"V = {d['vocab_size']}, {d['n_train_docs']} training / {p['n_test_docs']} test documents; "
              f"perplexity: document completion, {p['heldout_fraction']:.0%} of each test document held out "
              f"(seed {p['split_seed']}), - where a model does not predict words from that level alone; NPMI/C_V "
              f"of the top {p['coherence_top_n']} words on the {p['coherence_reference']}; TD of the top "
              f"{p['td_top_n']}; near-dup: share of topics whose top-{p['coherence_top_n']} set has Jaccard > 0.5 "
              f"with another of the level; dead: share with prevalence below 1/(10 K); spec: mean cosine distance "
              f"from the corpus word distribution; PCC, PCD, SD, PnCD of the top {p.get('hierarchy_top_n', 15)} "
              f"words over edges of weight >= {p['min_edge']}.", ""]
    return "\n".join(lines)


def plot_comparison(comparison: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Four bar charts, written atomically as PNG: layer-1 perplexity and NPMI per model (top), and per
    model TD of every level and PCD of every pair of adjacent layers side by side (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..storage.atomic import atomic_path

    rows = summary_rows(comparison)
    names = [r["model"] for r in rows]
    colors = ["#1f77b4" if r["model"] in DEEP_MODELS else "#999999" for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(max(8.0, 2.0 * len(rows) + 3.0), 6.4), constrained_layout=True)
    for ax, key, label in ((axes[0, 0], "perplexity", "perplexity (lower is better)"),
                           (axes[0, 1], "npmi", "NPMI (higher is better)")):
        values = [np.nan if r[key] is None else r[key] for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colors)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.bar_label(bars, fmt="%.3f" if key == "npmi" else "%.0f", fontsize=8)
        if key == "npmi":
            ax.axhline(0.0, color="black", linewidth=0.6)
    by_model = {r["model"]: r for r in comparison["results"]}
    max_layers = max(len(r["layers"]) for r in comparison["results"])
    cmap = plt.get_cmap("viridis")
    for ax, key, label, first in ((axes[1, 0], "td", "TD per level (1 = most specific)", 1),
                                  (axes[1, 1], "pcd", "PCD per pair (level l over l-1)", 2)):
        levels = list(range(first, max_layers + 1))
        width = 0.8 / max(len(levels), 1)
        for j, level in enumerate(levels):
            values = []
            for name in names:
                records = {rec["layer"]: rec for rec in by_model[name]["layers"]}
                value = records.get(level, {}).get(key)
                values.append(np.nan if value is None else value)
            ax.bar(np.arange(len(names)) + (j - (len(levels) - 1) / 2) * width, values, width,
                   color=cmap(j / max(len(levels) - 1, 1)), label=f"level {level}" if first == 1 else f"{level}>{level - 1}")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.05)
        if levels:
            ax.legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=200)
    plt.close(fig)
