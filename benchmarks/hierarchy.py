"""Trees against trees: GGBN and the tomotopy hierarchical peers (and LDA) under one evaluator.

    python benchmarks/hierarchy.py --datasets 20news,bbc --json benchmarks/results/hierarchy.json
    python benchmarks/hierarchy.py --datasets bbc --epochs 2 --gibbs-iterations 20 --max-docs 300   # smoke test

Every model is fitted on the same training counts and scored by ``compare_models`` (document
completion perplexity with 20% of each test document held out, seed 0; NPMI, C_V, TD, near-duplicate
and dead-topic shares and specialisation per level; TraCo's PCC, PCD, SD, PnCD per pair of adjacent
levels; coherence reference = the training documents). Data:

- ``20news``: ../shared/corpora/20news train/test (bydate), scikit-learn CountVectorizer vocabulary of
  the ``--vocab`` most frequent words (as benchmarks/twenty_news.py).
- ``bbc``: OCTIS's preprocessed BBC News (../shared/corpora/octis/BBC_News): its own vocabulary,
  train + validation documents for training, its test documents for testing.

Writes the comparison per dataset (with the machine, versions, command and wall time) as JSON, a
markdown section with ``--markdown``, each model's tree with ``--save-trees DIR`` (DIR/<dataset>/<model>/
topics.json, which ``ggbn-topics topics`` opens) and the plot with ``--plot-prefix``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deepgbn_text import Corpus  # noqa: E402
from deepgbn_text.evaluate.report import compare_models, comparison_markdown, plot_comparison  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
MODELS = "ggbn,hlda-tomotopy,pam-tomotopy,hpam-tomotopy,lda-tomotopy"


def load_20news(vocab_size: int) -> tuple[Corpus, sp.csr_matrix]:
    from twenty_news import load

    train, test = load(SHARED / "20news", vocab_size)
    return train, test.counts


def load_bbc() -> tuple[Corpus, sp.csr_matrix]:
    folder = SHARED / "octis" / "BBC_News"
    vocab = (folder / "vocabulary.txt").read_text(encoding="utf-8").split()
    index = {w: j for j, w in enumerate(vocab)}
    rows: dict[str, list[list[int]]] = {"train": [], "test": []}
    for line in (folder / "corpus.tsv").read_text(encoding="utf-8").splitlines():
        text, split = line.split("\t")[:2]
        rows["test" if split == "test" else "train"].append([index[w] for w in text.split() if w in index])

    def counts(docs: list[list[int]]) -> sp.csr_matrix:
        data = sp.lil_matrix((len(docs), len(vocab)), dtype=np.int32)
        for r, ids in enumerate(docs):
            for j, c in zip(*np.unique(ids, return_counts=True)):
                data[r, j] = c
        return data.tocsr()

    return Corpus(counts(rows["train"]), vocab).nonempty(), counts(rows["test"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="20news,bbc")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--topics", default="50,25,10", help="widths bottom first (hLDA: depth = their number)")
    parser.add_argument("--vocab", type=int, default=2000, help="20news vocabulary size")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--gibbs-iterations", type=int, default=1000)
    parser.add_argument("--infer-iterations", type=int, default=100)
    parser.add_argument("--max-docs", type=int, default=None, help="first N training / N // 4 test documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--save-trees", type=Path, default=None)
    parser.add_argument("--plot-prefix", type=Path, default=None)
    args = parser.parse_args()

    topics = [int(k) for k in args.topics.split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    gibbs = {"iterations": args.gibbs_iterations, "infer_iterations": args.infer_iterations}
    options = {name: dict(gibbs) for name in models if name.endswith("-tomotopy")}
    out: dict[str, object] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "versions": _versions(),
        "datasets": {},
    }
    sections = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        train, test = load_20news(args.vocab) if dataset == "20news" else load_bbc()
        if args.max_docs:
            train = train.subset(np.arange(min(args.max_docs, train.n_docs)))
            test = test[: max(10, args.max_docs // 4)]
        started = time.perf_counter()
        comparison = compare_models(
            train, test, models, topics, epochs=args.epochs, seed=args.seed, device=args.device,
            model_options=options,
            save_trees=args.save_trees / dataset if args.save_trees else None,
            on_model=lambda name, stage: print(f"[{dataset}] {name}: {stage}", file=sys.stderr, flush=True))
        comparison["wall_seconds"] = time.perf_counter() - started
        comparison["data"]["dataset"] = dataset
        out["datasets"][dataset] = comparison  # type: ignore[index]
        sections.append(comparison_markdown(comparison, title=f"{dataset} (wall {comparison['wall_seconds']:.0f} s)"))
        if args.plot_prefix:
            plot_comparison(comparison, f"{args.plot_prefix}_{dataset}.png")
        print(sections[-1], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text("\n".join(sections), encoding="utf-8")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("deepgbn-text", "torch", "tomotopy", "gensim", "numpy", "scikit-learn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    main()
