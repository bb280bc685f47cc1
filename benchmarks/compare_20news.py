"""Compare GGBN, GBN and the LDA baselines on 20 Newsgroups (V = 2000, 5000) and BBC News, one evaluator.

    python benchmarks/compare_20news.py --vocab 2000,5000 --epochs 300 --json out.json
    python benchmarks/compare_20news.py --epochs 2 --max-docs 500 --markdown /tmp/x.md   # smoke test

Calls :func:`deepgbn_text.evaluate.compare_models`: every model is fitted on the same training counts
and scored by the same evaluator (document completion perplexity with 20% of each test document held
out, seed 0; NPMI / C_V of the top 10 words on the training split; TD of the top 25).

Data (``../shared/corpora``, see its README):
- 20news: ``20news/train.txt.gz`` / ``test.txt.gz`` (bydate split). Vocabulary from scikit-learn's
  CountVectorizer on the training split (the --vocab most frequent words of 3+ letters, English stop
  words removed, min_df 5, max_df 0.5), as in ``benchmarks/twenty_news.py``, so the numbers do not
  depend on the spaCy pipeline.
- bbc: OCTIS ``octis/BBC_News/corpus.tsv`` (already tokenised) with its ``vocabulary.txt``;
  train + val documents for training, the test documents for testing.

Prints one table per data set, writes JSON (--json) and a markdown section into --markdown (between
marker comments, replacing an earlier run's section; default docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from deepgbn_text import Corpus
from deepgbn_text.atomic import write_json, write_text
from deepgbn_text.evaluate import compare_models, comparison_markdown

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"
START, END = "<!-- compare_20news:start -->", "<!-- compare_20news:end -->"


def load_20news(folder: Path, vocab_size: int, max_docs: int | None) -> tuple[Corpus, sp.csr_matrix]:
    def lines(name: str) -> list[str]:
        with gzip.open(folder / name, "rt", encoding="utf-8") as fh:
            docs = fh.read().splitlines()
        return docs[:max_docs] if max_docs else docs

    vectorizer = CountVectorizer(max_features=vocab_size, stop_words="english", min_df=5, max_df=0.5,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b")
    train = vectorizer.fit_transform(lines("train.txt.gz"))
    test = vectorizer.transform(lines("test.txt.gz"))
    return Corpus(train, list(vectorizer.get_feature_names_out())).nonempty(), sp.csr_matrix(test)


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
    jobs = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        if dataset == "20news":
            for v in [int(v) for v in args.vocab.split(",")]:
                jobs.append((f"20news V={v}", lambda v=v: load_20news(args.corpora / "20news", v, args.max_docs)))
        elif dataset == "bbc":
            jobs.append(("BBC News (OCTIS)", lambda: load_octis(args.corpora / "octis" / "BBC_News", args.max_docs)))
        else:
            sys.exit(f"unknown dataset {dataset!r}; choose 20news or bbc")

    results, sections = {}, []
    for title, load in jobs:
        train, test = load()
        print(f"== {title}: {train.n_docs} training documents, {test.shape[0]} test documents, V = {train.n_words}",
              flush=True)
        started = time.perf_counter()
        comparison = compare_models(
            train, test, args.models.split(","), topics, epochs=args.epochs, seed=args.seed, hidden=args.hidden,
            batch_size=args.batch_size, device=args.device, refine_steps=args.refine_steps,
            reference_name="training split",
            on_model=lambda name, stage: print(f"   {name}: {stage}", flush=True) if stage != "done" else None)
        comparison["data"]["dataset"] = title
        comparison["seconds"] = time.perf_counter() - started
        results[title] = comparison
        table = comparison_markdown(comparison, title=title)
        sections.append(table)
        print(table, flush=True)
    if args.json:
        write_json(args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "results": results})
    header = (f"## Model comparison (benchmarks/compare_20news.py)\n\nmodels {args.models}; topics {args.topics}; "
              f"epochs {args.epochs}; seed {args.seed}" + (f"; first {args.max_docs} documents only" if args.max_docs
                                                           else "") + "\n")
    write_markdown_section(args.markdown, header + "\n" + "\n".join(sections))
    print(f"wrote {args.markdown}" + (f" and {args.json}" if args.json else ""))


if __name__ == "__main__":
    main()
