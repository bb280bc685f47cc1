"""Ablations of the Generalized GBN on 20 Newsgroups (V = 2000), one protocol for every row.

    python benchmarks/ablations.py --json ablations.json --markdown docs/benchmarks.md

Rows: the default (non-linear links, upward-downward encoder, 128-64-32), the linear GBN at equal widths,
depth 1 and 2, and an upward-only encoder (heads do not read the prior shape from the layer above).
Per row: test document-completion perplexity (as benchmarks/twenty_news.py: encoder mean, 20% held out,
seed 0), the share of theta entries below 1e-3 per layer on the test documents (sparsity), topic
diversity of the top 25 words per layer, fit seconds. The gamma-posterior ablation is not implemented.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from deepgbn_text import GeneralizedGBN
from deepgbn_text.atomic import write_json, write_text
from deepgbn_text.evaluate import completion_perplexity, completion_split, topic_diversity

from twenty_news import DEFAULT_DATA, load

SPARSE_BELOW = 1e-3
ROWS = {
    "default (nonlinear, upward-downward, 3 layers)": dict(n_topics=[128, 64, 32]),
    "linear GBN, 3 layers": dict(n_topics=[128, 64, 32], link="linear"),
    "depth 1": dict(n_topics=[128]),
    "depth 2": dict(n_topics=[128, 64]),
    "upward-only encoder, 3 layers": dict(n_topics=[128, 64, 32], encoder="upward"),
}
START, END = "<!-- ablations:start -->", "<!-- ablations:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))), help="row numbers to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    train, test = load(args.data, 2000)
    observed, heldout = completion_split(test.counts, 0.2, seed=0)
    names = list(ROWS)
    results = []
    for index in (int(i) for i in args.rows.split(",")):
        name = names[index]
        started = time.perf_counter()
        params = dict(ROWS[name])
        model = GeneralizedGBN(n_layers=len(params["n_topics"]), seed=args.seed, device=args.device, **params).fit(train)
        seconds = time.perf_counter() - started
        thetas = model.transform(observed)
        row = {"row": name, "perplexity": round(completion_perplexity(model, observed, heldout), 1),
               "sparsity": [round(float(np.mean(t < SPARSE_BELOW)), 3) for t in thetas],
               "td": [round(topic_diversity(model.topic_word(layer), 25), 3) for layer in range(1, len(thetas) + 1)],
               "epochs": len(model.history_), "fit_seconds": round(seconds, 1)}
        results.append(row)
        print(json.dumps(row), flush=True)
    lines = ["| row | test perplexity | theta < 1e-3 per layer | TD per layer | epochs | fit s |",
             "|---|---:|---|---|---:|---:|"]
    lines += [f"| {r['row']} | {r['perplexity']} | {r['sparsity']} | {r['td']} | {r['epochs']} | {r['fit_seconds']} |"
              for r in results]
    table = "\n".join(lines)
    print(table)
    if args.json:
        write_json(args.json, results)
    if args.markdown:
        text = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else "# Benchmarks\n"
        section = f"{START}\n## Ablations (benchmarks/ablations.py, seed {args.seed})\n\n{table}\n{END}"
        if START in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        write_text(args.markdown, text)


if __name__ == "__main__":
    main()
