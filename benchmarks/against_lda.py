"""The default Generalized GBN against Gibbs LDA (tomotopy), corpus by corpus, under one protocol.

    OMP_NUM_THREADS=1 python benchmarks/against_lda.py --corpora sample,bbc --json benchmarks/results/against-lda.json
    python benchmarks/against_lda.py --corpora sample --epochs 2 --gibbs-iterations 20   # smoke test
    python benchmarks/against_lda.py --corpora 20news --depths 5 --lda-widths "" --ggbn layer_likelihood=0.5 --seed 1
    python benchmarks/against_lda.py --corpora bbc --depths 3 --lda-widths 128 --lda optim_interval=0   # symmetric alpha

Per corpus (benchmarks/bench_corpora.py: its own vocabulary and train/test split), ``compare_models`` fits
the default ggbn at each depth of ``--depths`` (3: 128-32-8, the default; 1: 128; 5: 128-32-8-4-2) and
tomotopy's LDA at K = 128 and K = 50 (``--lda-widths``; 1,000 Gibbs iterations), and scores all of them alike: document
completion perplexity (20% of each test document held out, seed 0; ggbn's inference is the one its
defaults use, see ``inference`` in the JSON), NPMI of the top 10 words on the training documents, TD of
the top 25 and the near-duplicate share per layer, fit seconds. The table gives ggbn's perplexity
against tomotopy's at both K and its fit time against tomotopy's at K = 128. ``--ggbn KEY=VALUE`` sets a
GeneralizedGBN parameter away from its default (a variant measured under the same protocol); ``--lda KEY=VALUE``
a ``TomotopyLDA`` option (``optim_interval=0``: tomotopy without its re-estimation of an asymmetric alpha).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_corpora import load  # noqa: E402
from deepgbn_text.storage.atomic import write_json  # noqa: E402
from deepgbn_text.estimator import default_topics  # noqa: E402
from deepgbn_text.evaluate.report import compare_models  # noqa: E402

LDA_WIDTHS = (128, 50)


def parse_setting(option: str, text: str) -> tuple[str, object]:
    """``KEY=VALUE`` given to ``option`` -> (key, the value as a Python literal, or as the string when it is not one)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"{option}: expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def run_corpus(name: str, depths: list[int], epochs: int, iterations: int, seed: int,
               lda_widths: list[int], ggbn: dict[str, object], lda: dict[str, object]) -> dict[str, object]:
    """Every model of the benchmark on corpus ``name``: one row per model."""
    train, test = load(name)
    rows = []
    options = {"lda-tomotopy": {"iterations": iterations, **lda}, "ggbn": ggbn}
    runs = [("ggbn", default_topics(depth)) for depth in depths] + [("lda-tomotopy", [k]) for k in lda_widths]
    for model, widths in runs:
        result = compare_models(train, test.counts, [model], widths, epochs=epochs, seed=seed, device="cpu",
                                measures=(), model_options=options)["results"][0]
        rows.append({"model": model, "topics": widths, "perplexity": round(result["layers"][0]["perplexity"], 1),
                     "npmi": [round(layer["npmi"], 3) for layer in result["layers"]],
                     "td": [round(layer["td"], 3) for layer in result["layers"]],
                     "near_duplicates": [round(layer["near_duplicate_share"], 3) for layer in result["layers"]],
                     "fit_seconds": round(result["fit_seconds"], 1), "epochs": result["epochs_run"],
                     "inference": result["inference"]})
        print(json.dumps({"corpus": name, **rows[-1]}), flush=True)
    return {"corpus": name, "n_train_docs": train.n_docs, "n_test_docs": test.n_docs, "vocab": train.n_words,
            "rows": rows}


def markdown(corpora: list[dict[str, object]]) -> str:
    lines = ["| corpus | model | topics | perplexity | vs LDA K=128 | vs LDA K=50 | NPMI L1 | TD per layer "
             "| near-duplicates per layer | fit s | fit vs LDA K=128 |",
             "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|"]
    for corpus in corpora:
        rows = corpus["rows"]
        lda = {row["topics"][0]: row for row in rows if row["model"] == "lda-tomotopy"}
        for row in rows:
            versus = [f"{100 * (row['perplexity'] / lda[k]['perplexity'] - 1):+.1f}%" if k in lda else "" for k in LDA_WIDTHS]
            speed = f"{row['fit_seconds'] / lda[128]['fit_seconds']:.1f}x" if 128 in lda else ""
            lines.append(f"| {corpus['corpus']} | {row['model']} | {'-'.join(map(str, row['topics']))} "
                         f"| {row['perplexity']} | {versus[0]} | {versus[1]} | {row['npmi'][0]} "
                         f"| {' / '.join(map(str, row['td']))} | {' / '.join(map(str, row['near_duplicates']))} "
                         f"| {row['fit_seconds']} | {speed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sample,bbc,m10,20news-3000", help="corpora of bench_corpora.py")
    parser.add_argument("--depths", default="3,1", help="ggbn depths to fit (default widths of each)")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--gibbs-iterations", type=int, default=1000)
    parser.add_argument("--lda-widths", default=",".join(map(str, LDA_WIDTHS)),
                        help='tomotopy\'s numbers of topics ("" for none)')
    parser.add_argument("--ggbn", action="append", default=[], metavar="KEY=VALUE",
                        help="a GeneralizedGBN parameter away from its default (repeatable), e.g. patience=5")
    parser.add_argument("--lda", action="append", default=[], metavar="KEY=VALUE",
                        help="a TomotopyLDA option (repeatable), e.g. optim_interval=0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    depths = [int(d) for d in args.depths.split(",")]
    lda_widths = [int(k) for k in args.lda_widths.split(",") if k.strip()]
    ggbn = dict(parse_setting("--ggbn", text) for text in args.ggbn)
    lda = dict(parse_setting("--lda", text) for text in args.lda)
    corpora = [run_corpus(name, depths, args.epochs, args.gibbs_iterations, args.seed, lda_widths, ggbn, lda)
               for name in args.corpora.split(",")]
    table = markdown(corpora)
    print(table)
    wall = time.perf_counter() - started
    print(f"wall time {wall / 60:.1f} min")
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "seed": args.seed, "ggbn": ggbn, "lda": lda,
                               "wall_seconds": round(wall, 1),
                               "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                           "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                                           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
                               "corpora": corpora, "markdown": table})


if __name__ == "__main__":
    main()
