"""Ablations of the Generalized GBN on 20 Newsgroups (V = 2000), one protocol for every row.

    OMP_NUM_THREADS=1 python benchmarks/ablations.py --json ablations.json          # every row, one run
    python benchmarks/ablations.py --rows 0,1,5 --epochs 3 --max-docs 600           # smoke test
    OMP_NUM_THREADS=1 python benchmarks/ablations.py --step-timing 200              # Weibull vs gamma step time

Rows: 0 the default (non-linear links, upward-downward encoder, Weibull posterior, 128-64-32), 1 the
linear GBN at equal widths, 2 and 3 depth 1 and 2, 4 an upward-only encoder (heads do not read the prior
shape from the layer above), 5 a gamma posterior (``posterior="gamma"``: Gam(k, k / mean) from the same
heads, implicit reparameterisation, analytic gamma-gamma KL) instead of the Weibull.
Per row: test document-completion perplexity (as benchmarks/twenty_news.py: encoder mean, 20% held out,
seed 0), NPMI of the top 10 words per layer on the training split, the share of theta entries below
1e-3 per layer on the test documents (sparsity) for the posterior means (what ``transform`` returns)
and for one posterior draw per document (seed 0), topic diversity of the top 25 words per layer, fit
seconds, mean seconds per epoch and the epochs run. The JSON also records the machine and the wall time.
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
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.atomic import write_json, write_text
from deepgbn_text.evaluate import completion_perplexity, completion_split, topic_diversity
from deepgbn_text.evaluate.coherence import DocumentCooccurrence, npmi_coherence
from deepgbn_text.model import SparseBatch
from deepgbn_text.train import EVAL_BATCH_SIZE

from twenty_news import DEFAULT_DATA, load

SPARSE_BELOW = 1e-3
HELDOUT_FRACTION = 0.2
TD_TOP_N = 25
NPMI_TOP_N = 10
ROWS = {
    "default (nonlinear, upward-downward, Weibull, 3 layers)": dict(n_topics=[128, 64, 32]),
    "linear GBN, 3 layers": dict(n_topics=[128, 64, 32], link="linear"),
    "depth 1": dict(n_topics=[128]),
    "depth 2": dict(n_topics=[128, 64]),
    "upward-only encoder, 3 layers": dict(n_topics=[128, 64, 32], encoder="upward"),
    "gamma posterior (implicit reparameterisation), 3 layers": dict(n_topics=[128, 64, 32], posterior="gamma"),
}
START, END = "<!-- ablations:start -->", "<!-- ablations:end -->"


def machine() -> dict[str, object]:
    """What ran the benchmark: CPU count, threads, device, versions."""
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def sample_sparsity(model: GeneralizedGBN, counts, seed: int = 0) -> list[float]:  # type: ignore[no-untyped-def]
    """Share of entries below SPARSE_BELOW in one posterior draw of theta per document, per layer."""
    torch.manual_seed(seed)
    below = np.zeros(len(model.topics_))
    for start in range(0, counts.shape[0], EVAL_BATCH_SIZE):
        batch = SparseBatch.from_csr(counts[start : start + EVAL_BATCH_SIZE], model.device_)
        for layer, theta in enumerate(model.module_.posterior_samples(batch)):
            below[layer] += float((theta < SPARSE_BELOW).sum())
    return [round(float(b) / (counts.shape[0] * k), 3) for b, k in zip(below, model.topics_)]


def step_timing(train, steps: int, seed: int, device: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Seconds per training step (forward, backward, Adam; batch 64, 128-64-32, default links) of the Weibull
    and the gamma posterior, interleaved in blocks of 10 steps on the same batches so that a shared
    machine's load falls on both alike; also the seconds of the sampling + KL alone per step."""
    from deepgbn_text.estimator import resolve_device
    from deepgbn_text.model import GBN

    dev = resolve_device(device)
    rows = np.flatnonzero(np.diff(train.counts.indptr) > 0)
    rng = np.random.default_rng(seed)
    batches = [SparseBatch.from_csr(train.counts[np.sort(rng.choice(rows, 64, replace=False))], dev)
               for _ in range(10)]
    modules, optimisers = {}, {}
    for family in ("weibull", "gamma"):
        torch.manual_seed(seed)
        modules[family] = GBN(train.n_words, [128, 64, 32], posterior=family).to(dev)
        optimisers[family] = torch.optim.Adam(modules[family].parameters(), lr=3e-3)
    totals = {family: 0.0 for family in modules}
    for _ in range(max(1, steps // 10)):
        for family, module in modules.items():
            started = time.perf_counter()
            for batch in batches:
                optimisers[family].zero_grad()
                (-module(batch).elbo().sum()).backward()
                optimisers[family].step()
            totals[family] += time.perf_counter() - started
    n = max(1, steps // 10) * len(batches)
    out = {f"{family}_step_seconds": round(total / n, 4) for family, total in totals.items()}
    from deepgbn_text.distributions import posterior_from_mean, posterior_kl, posterior_rsample

    k_raw = torch.rand(64, 128, device=dev) * 3 + 0.2
    mean = torch.rand(64, 128, device=dev) * 5
    prior = torch.rand(64, 128, device=dev) * 2
    for family in modules:
        started = time.perf_counter()
        for _ in range(n):
            k = k_raw.clone().requires_grad_()
            m = mean.clone().requires_grad_()
            k2, param, _ = posterior_from_mean(family, k, m)
            (posterior_rsample(family, k2, param).sum() + posterior_kl(family, k2, param, prior, 1.0).sum()).backward()
        out[f"{family}_sample_kl_seconds"] = round((time.perf_counter() - started) / n, 5)
    return out


def markdown_table(results: list[dict[str, object]]) -> str:
    lines = ["| # | row | test perplexity | NPMI (layer 1) | NPMI per layer | mean theta < 1e-3 per layer "
             "| sampled theta < 1e-3 per layer | TD per layer "
             "| epochs | fit s | s / epoch |",
             "|---:|---|---:|---:|---|---|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['index']} | {r['row']} | {r['perplexity']} | {r['npmi'][0]} | {r['npmi']} | {r['sparsity']} "
                     f"| {r['sparsity_sample']} | {r['td']} | {r['epochs']} | {r['fit_seconds']} | {r['seconds_per_epoch']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))), help="row numbers to run")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--max-docs", type=int, default=None, help="use only the first N train and test documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path, help="replace the ablations section of this file with the table")
    parser.add_argument("--step-timing", type=int, default=0, metavar="STEPS",
                        help="only time STEPS training steps of the Weibull and the gamma posterior, interleaved")
    args = parser.parse_args()
    if args.step_timing:
        train, _ = load(args.data, args.vocab)
        print(json.dumps({"machine": machine(), **step_timing(train, args.step_timing, args.seed, args.device)}))
        return
    names = list(ROWS)
    indices = [int(i) for i in args.rows.split(",")]
    if any(not 0 <= i < len(names) for i in indices):
        sys.exit(f"--rows: row numbers run from 0 to {len(names) - 1}")
    run_started = time.perf_counter()
    train, test = load(args.data, args.vocab)
    if args.max_docs:
        train, test = train.subset(np.arange(min(args.max_docs, train.n_docs))), test.subset(
            np.arange(min(args.max_docs, test.n_docs)))
    observed, heldout = completion_split(test.counts, HELDOUT_FRACTION, seed=0)
    reference = DocumentCooccurrence(train.counts)
    results = []
    for index in indices:
        name = names[index]
        params = dict(ROWS[name])
        started = time.perf_counter()
        model = GeneralizedGBN(n_layers=len(params["n_topics"]), seed=args.seed, device=args.device,
                               epochs=args.epochs, **params).fit(train)
        seconds = time.perf_counter() - started
        thetas = model.transform(observed)
        layers = range(1, len(thetas) + 1)
        topic_words = [model.topic_word(layer) for layer in layers]
        epoch_seconds = [record["seconds"] for record in model.history_]
        row = {"index": index, "row": name, "params": params,
               "perplexity": round(completion_perplexity(model, observed, heldout), 1),
               "npmi": [round(npmi_coherence(tw, reference, NPMI_TOP_N), 3) for tw in topic_words],
               "sparsity": [round(float(np.mean(t < SPARSE_BELOW)), 3) for t in thetas],
               "sparsity_sample": sample_sparsity(model, observed),
               "td": [round(topic_diversity(tw, TD_TOP_N), 3) for tw in topic_words],
               "epochs": len(model.history_), "fit_seconds": round(seconds, 1),
               "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 2),
               "skipped_steps": int(sum(record.get("skipped_steps", 0) for record in model.history_))}
        results.append(row)
        print(json.dumps(row), flush=True)
    wall = time.perf_counter() - run_started
    table = markdown_table(results)
    print(table)
    print(f"wall time {wall / 60:.1f} min", flush=True)
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "machine": machine(), "seed": args.seed,
                               "vocab": args.vocab, "n_train_docs": train.n_docs, "n_test_docs": test.n_docs,
                               "wall_seconds": round(wall, 1), "rows": results})
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
