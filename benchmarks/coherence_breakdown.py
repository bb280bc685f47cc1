"""Where layer-1 coherence differs between the default ggbn and tomotopy's LDA, topic by topic.

    OMP_NUM_THREADS=1 python benchmarks/coherence_breakdown.py --corpora sample,bbc,20news-3000 \\
        --json benchmarks/results/coherence-breakdown.json
    python benchmarks/coherence_breakdown.py --corpora sample --epochs 2 --gibbs-iterations 20   # smoke test

Per corpus (benchmarks/bench_corpora.py's training split) it fits the default 3-layer ggbn, tomotopy's LDA
at K = 128 as tomotopy runs by default (an asymmetric alpha re-estimated every 10 sweeps) and with the
symmetric alpha = 0.1 kept throughout (``optim_interval=0``). For each model's bottom topics:
- NPMI of the top 10 words on the training documents (as ``against_lda.py``);
- the topics grouped by how many of their top 10 words are everyday words (in more than EVERYDAY_DF of
  the training documents): 0-1, 2, 3 or more, with the number of topics and their mean NPMI;
- the mean probability of a topic's top 10 words together (how peaked the topics are);
- the effective number of topics a training document uses, exp(entropy) of its normalised theta (ggbn:
  the encoder's posterior mean; tomotopy: its own inference), and the largest topic's mean share.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_corpora import load  # noqa: E402
from deepgbn_text.baselines import TomotopyLDA  # noqa: E402
from deepgbn_text.estimator import GeneralizedGBN  # noqa: E402
from deepgbn_text.evaluate.coherence import DocumentCooccurrence, npmi_per_topic, top_word_ids  # noqa: E402
from deepgbn_text.storage.atomic import write_json  # noqa: E402

EVERYDAY_DF = 0.05
"""A word in more than this share of the training documents counts as an everyday word."""
GROUPS = ((0, 1, "0-1"), (2, 2, "2"), (3, 10, "3+"))
TOP_N = 10


def breakdown(topic_word: np.ndarray, theta: np.ndarray, everyday: np.ndarray,
              cooc: DocumentCooccurrence) -> dict[str, object]:
    """The measures of the module docstring for one model's bottom topics (topics x V) and theta (docs x topics)."""
    npmi = npmi_per_topic(topic_word, cooc, TOP_N)
    top = top_word_ids(topic_word, TOP_N)
    n_everyday = everyday[top].sum(1)
    shares = theta / np.maximum(theta.sum(1, keepdims=True), 1e-12)
    entropy = -(shares * np.log(np.maximum(shares, 1e-12))).sum(1)
    distributions = topic_word / topic_word.sum(1, keepdims=True)
    groups = {}
    for low, high, label in GROUPS:
        members = (n_everyday >= low) & (n_everyday <= high)
        groups[label] = {"topics": int(members.sum()),
                         "npmi": round(float(np.nanmean(npmi[members])), 3) if members.any() else None}
    return {"npmi": round(float(np.nanmean(npmi)), 3), "by_everyday_words": groups,
            "top10_mass": round(float(np.take_along_axis(distributions, top, 1).sum(1).mean()), 3),
            "effective_topics_per_doc": round(float(np.exp(entropy).mean()), 1),
            "largest_topic_share": round(float(shares.mean(0).max()), 3)}


def run_corpus(name: str, seed: int, epochs: int, iterations: int) -> dict[str, object]:
    train, _ = load(name)
    everyday = np.asarray((train.counts > 0).mean(0)).ravel() > EVERYDAY_DF
    cooc = DocumentCooccurrence(train.counts)
    models = {"ggbn": GeneralizedGBN(seed=seed, epochs=epochs, device="cpu"),
              "lda-tomotopy": TomotopyLDA(128, seed=seed, iterations=iterations),
              "lda-tomotopy, symmetric alpha": TomotopyLDA(128, seed=seed, iterations=iterations, optim_interval=0)}
    rows = {}
    for label, model in models.items():
        model.fit(train)
        topic_word = model.topic_word(1)
        rows[label] = breakdown(topic_word, model.transform_layers(train.counts)[0], everyday, cooc)
        print(json.dumps({"corpus": name, "model": label, **rows[label]}), flush=True)
    return {"corpus": name, "n_train_docs": train.n_docs, "vocab": train.n_words,
            "everyday_words": int(everyday.sum()), "models": rows}


def markdown(corpora: list[dict[str, object]]) -> str:
    lines = ["| corpus | model | NPMI L1 | topics with 0-1 / 2 / 3+ everyday words in their top 10 (NPMI) "
             "| top-10 mass | topics a document uses | largest topic |", "|---|---|---:|---|---:|---:|---:|"]
    for corpus in corpora:
        for label, row in corpus["models"].items():
            groups = " / ".join(f"{g['topics']} ({g['npmi'] if g['npmi'] is not None else '-'})"
                                for g in row["by_everyday_words"].values())
            lines.append(f"| {corpus['corpus']} | {label} | {row['npmi']:.3f} | {groups} | {row['top10_mass']:.3f} "
                         f"| {row['effective_topics_per_doc']} | {row['largest_topic_share']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sample,bbc,20news-3000", help="corpora of bench_corpora.py")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--gibbs-iterations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    corpora = [run_corpus(name, args.seed, args.epochs, args.gibbs_iterations) for name in args.corpora.split(",")]
    table = markdown(corpora)
    print(table)
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "seed": args.seed, "everyday_df": EVERYDAY_DF,
                               "corpora": corpora, "markdown": table})


if __name__ == "__main__":
    main()
