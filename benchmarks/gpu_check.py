"""Fit prepared corpora on one device and report time, epochs, validation perplexity and determinism.

    python benchmarks/gpu_check.py build/gpu/sample build/gpu/20ng-train --device cuda --json out.json

Prints a table and writes JSON. The same seed is fitted twice per corpus; ``repeat_max_diff`` is the
largest difference between the two runs' layer-1 topic-word matrices (0 means bit-identical).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from deepgbn_text import Corpus, GeneralizedGBN


def fit_once(corpus: Corpus, device: str, seed: int, **params) -> tuple[GeneralizedGBN, float]:
    started = time.perf_counter()
    model = GeneralizedGBN(device=device, seed=seed, **params).fit(corpus)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", help="prepared corpus folders")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-sizes", default="64", help="comma-separated")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for folder in args.corpora:
        corpus = Corpus.load(folder)
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            params = dict(epochs=args.epochs, batch_size=batch_size)
            model, seconds = fit_once(corpus, args.device, 0, **params)
            again, _ = fit_once(corpus, args.device, 0, **params)
            history = model.history_
            best = max(history, key=lambda r: r["val_elbo_per_token"])
            rows.append({
                "corpus": folder, "docs": corpus.n_docs, "vocab": corpus.n_words, "batch_size": batch_size,
                "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                "epochs_run": len(history), "fit_seconds": round(seconds, 2),
                "median_epoch_seconds": round(statistics.median(r["seconds"] for r in history), 4),
                "best_epoch": best["epoch"], "val_perplexity_at_best": round(best["val_perplexity"], 1),
                "repeat_max_diff": float(np.abs(model.topic_word(1) - again.topic_word(1)).max()),
                "torch": torch.__version__,
            })
            print(json.dumps(rows[-1]), flush=True)
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
