"""Compare GGBN, GBN and the LDA baselines on 20 Newsgroups (V = 2000, 5000) and BBC News, one evaluator.

    python benchmarks/compare_20news.py --vocab 2000,5000 --epochs 300 --json out.json
    python benchmarks/compare_20news.py --epochs 2 --max-docs 500 --markdown /tmp/x.md   # smoke test

Calls :func:`deepgbn_text.evaluate.compare_models`: every model is fitted on the same training counts
and scored by the same evaluator (document completion perplexity with 20% of each test document held
out, seed 0; NPMI / C_V of the top 10 words on the training split; TD of the top 25).

Data (``../shared/corpora``, see its README):
- 20news: ``20news/train.txt.gz`` / ``test.txt.gz`` (bydate split). Vocabulary from scikit-learn's
  CountVectorizer on the training split (the --vocab most frequent words of 3+ letters, English stop
  words removed, min_df 5, max_df 0.5; ``benchmarks/bench_data.py``, shared with ``speed.py``), as in
  ``benchmarks/twenty_news.py``, so the numbers do not depend on the spaCy pipeline.
- bbc: OCTIS ``octis/BBC_News/corpus.tsv`` (already tokenised) with its ``vocabulary.txt``;
  train + val documents for training, the test documents for testing.

``--models`` may also name ``ggbn-gamma``: the Generalized GBN with the gamma posterior
(``GeneralizedGBN(posterior="gamma")``), and ``ggbn-ema`` / ``ggbn-gamma-ema``: the same two with the
parameter average (``ema_decay=0.995``), fitted here and scored by the same ``evaluate_model``.

Prints one table per data set, writes JSON (--json) and a markdown section into --markdown (between
marker comments, replacing an earlier run's section; default docs/benchmarks.md). Both record the
command, the machine (CPU count, threads, GPU, versions), the seed and the wall time of every data set.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from deepgbn_text import Corpus
from deepgbn_text.storage.atomic import write_json, write_text
from deepgbn_text import GeneralizedGBN
from deepgbn_text.evaluate import compare_models, comparison_markdown, evaluate_model

from bench_data import DEFAULT_CORPORA, ROOT, load_20news

START, END = "<!-- compare_20news:start -->", "<!-- compare_20news:end -->"
EXTRA_MODELS = {"ggbn-gamma": dict(link="nonlinear", posterior="gamma"),
                "ggbn-ema": dict(link="nonlinear", ema_decay=0.995),
                "ggbn-gamma-ema": dict(link="nonlinear", posterior="gamma", ema_decay=0.995)}
"""Deep models this script fits itself (evaluate.compare_models knows ggbn and gbn): name -> GeneralizedGBN options."""


def load_octis(folder: Path, max_docs: int | None) -> tuple[Corpus, sp.csr_matrix]:
    vocab = [w.strip() for w in (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines() if w.strip()]
    index = {w: j for j, w in enumerate(vocab)}
    rows: dict[str, list[list[int]]] = {"train": [], "test": []}
    for line in (folder / "corpus.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        split = "test" if parts[1].strip() == "test" else "train"  # val joins train
        rows[split].append([index[t] for t in parts[0].split() if t in index])

    def counts(docs: list[list[int]]) -> sp.csr_matrix:
        docs = docs[:max_docs] if max_docs else docs
        indptr = np.cumsum([0] + [len(d) for d in docs])
        data = np.ones(int(indptr[-1]), dtype=np.int32)
        indices = np.array([j for d in docs for j in d], dtype=np.int64)
        matrix = sp.csr_matrix((data, indices, indptr), shape=(len(docs), len(vocab)))
        matrix.sum_duplicates()
        return matrix

    return Corpus(counts(rows["train"]), vocab).nonempty(), counts(rows["test"])


def machine_info() -> dict[str, object]:
    """What ran the comparison: platform, CPU count, torch threads, GPU, package versions."""
    import importlib.metadata as md

    import torch

    versions = {}
    for name in ("torch", "scikit-learn", "gensim", "tomotopy"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "versions": versions}


def fit_extra_model(name: str, train: Corpus, test: sp.csr_matrix, topics: list[int], args: argparse.Namespace,
                    ) -> dict[str, object]:
    """Fit one of EXTRA_MODELS and score it as compare_models scores its models (same keys)."""
    model = GeneralizedGBN(n_topics=topics, n_layers=len(topics), hidden=args.hidden, epochs=args.epochs,
                           batch_size=args.batch_size, seed=args.seed, device=args.device,
                           refine_steps=args.refine_steps, **EXTRA_MODELS[name])
    print(f"   {name}: fit", flush=True)
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    print(f"   {name}: evaluate", flush=True)
    scores = evaluate_model(model, test, train.counts, reference_name="training split", seed=args.seed,
                            topic_details=False)
    return {"model": name, "n_layers": len(model.topics_), "topics": list(model.topics_), "fit_seconds": fit_seconds,
            "epochs_run": len(model.history_), "inference": scores["protocol"]["inference"] + f" ({EXTRA_MODELS[name]})",
            "layers": scores["layers"]}


def write_markdown_section(path: Path, body: str) -> None:
    """Replace the text between the marker comments in ``path`` (or append a new section)."""
    section = f"{START}\n{body.rstrip()}\n{END}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + section + tail
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "# Benchmarks\n\n") + section
    write_text(path, new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help="the shared corpora folder")
    parser.add_argument("--datasets", default="20news,bbc", help="comma-separated: 20news, bbc")
    parser.add_argument("--vocab", default="2000,5000", help="20news vocabulary sizes, comma-separated")
    parser.add_argument("--models", default="ggbn,gbn,lda-sklearn,lda-gensim,lda-tomotopy")
    parser.add_argument("--topics", default="128,64,32", help="widths, bottom first; LDA uses the first")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--refine-steps", type=int, default=0, help="test-time ELBO steps for ggbn/gbn")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-docs", type=int, default=None, help="use only the first N train and test documents")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()

    topics = [int(k) for k in args.topics.split(",")]
    requested = [m.strip() for m in args.models.split(",") if m.strip()]
    extras = [m for m in requested if m in EXTRA_MODELS]
    regular = [m for m in requested if m not in EXTRA_MODELS]
    if not regular:
        sys.exit("--models: name at least one model besides " + ", ".join(EXTRA_MODELS))
    jobs = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        if dataset == "20news":
            for v in [int(v) for v in args.vocab.split(",")]:
                jobs.append((f"20news V={v}", lambda v=v: load_20news(args.corpora / "20news", v, args.max_docs)))
        elif dataset == "bbc":
            jobs.append(("BBC News (OCTIS)", lambda: load_octis(args.corpora / "octis" / "BBC_News", args.max_docs)))
        else:
            sys.exit(f"unknown dataset {dataset!r}; choose 20news or bbc")

    run_started = time.perf_counter()
    results, sections = {}, []
    for title, load in jobs:
        train, test = load()
        print(f"== {title}: {train.n_docs} training documents, {test.shape[0]} test documents, V = {train.n_words}",
              flush=True)
        started = time.perf_counter()
        comparison = compare_models(
            train, test, regular, topics, epochs=args.epochs, seed=args.seed, hidden=args.hidden,
            batch_size=args.batch_size, device=args.device, refine_steps=args.refine_steps,
            reference_name="training split",
            on_model=lambda name, stage: print(f"   {name}: {stage}", flush=True) if stage != "done" else None)
        for name in extras:
            comparison["results"].append(fit_extra_model(name, train, sp.csr_matrix(test), topics, args))
        order = {name: i for i, name in enumerate(requested)}
        comparison["results"].sort(key=lambda r: order.get(r["model"], len(order)))
        comparison["data"]["dataset"] = title
        comparison["seconds"] = time.perf_counter() - started
        results[title] = comparison
        table = comparison_markdown(comparison, title=title)
        table += f"\nWall time (fit + evaluation of every model): {comparison['seconds'] / 60:.1f} min.\n"
        sections.append(table)
        print(table, flush=True)
    wall = time.perf_counter() - run_started
    machine = machine_info()
    command = "python " + " ".join(["benchmarks/compare_20news.py", *sys.argv[1:]])
    if args.json:
        write_json(args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "command": command,
                               "machine": machine, "wall_seconds": wall, "results": results})
    where = (f"{machine['cpu_count']} CPU cores, {machine['torch_threads']} torch thread(s)"
             + (f", GPU {machine['gpu']}" if machine["gpu"] else ", no GPU"))
    header = (f"## Model comparison (benchmarks/compare_20news.py)\n\n    {command}\n\nmodels {args.models}; "
              f"topics {args.topics}; epochs {args.epochs}; seed {args.seed}"
              + (f"; first {args.max_docs} documents only" if args.max_docs else "")
              + f"; {where}; wall time {wall / 60:.1f} min\n")
    write_markdown_section(args.markdown, header + "\n" + "\n".join(sections))
    print(f"wrote {args.markdown}" + (f" and {args.json}" if args.json else ""))


if __name__ == "__main__":
    main()
