"""Ablations of the Generalized GBN: every mechanism of the default switched off in turn, one protocol for every row.

    OMP_NUM_THREADS=1 python benchmarks/ablations.py --corpus bbc --json bbc.json   # every row, one corpus
    python benchmarks/ablations.py --corpus sample --rows 0,1 --epochs 3            # smoke test
    OMP_NUM_THREADS=1 python benchmarks/ablations.py --step-timing 200              # Weibull vs gamma step time

Rows: 0 the default (the bottom layer pretrained alone and its topics then from collapsed Gibbs LDA, non-linear
links with the expert's gate at most 0.1, free (column-softmax) upper links, a Dirichlet(0.1) on the upper
loadings, every upper layer's own likelihood of the words, a gamma prior below the top whose total shape grows as 2
sqrt of its mass, the topic logits at 30x the learning rate (10x for short texts), the upper links started as
partitions of the pretrained bottom layer's topics and a 10-epoch KL warm-up after the pretraining, 128-32-8); 1-4
the default with one mechanism changed (no per-layer likelihood; balanced transport-plan links, the default until
2026-12-02; a flat prior on the upper loadings; a free gate); 5 linear links; 6 the default mechanisms at the old
widths 128-64-32; 7 the model before these mechanisms (all off, no pretraining, the plain gamma prior, topics at
10x, 128-64-32); 8 and 9 depth 1 and 5; 10 a gamma posterior; 11 the default without the bottom pretraining; 12
without the EM refinement of the bottom topics; 13 the plain gamma prior Gam(a, 1) below the top
(``gamma_concentration=0``); 14 the topic logits at 10x the learning rate instead of 30x; 15 the upper links
started at random and the deep stage's KL warm-up over 30 epochs (the start and warm-up before the partition start,
here with free links); 16 random links with the default 10-epoch warm-up; 17 the partition start with the 30-epoch
warm-up; 18 the deep stage's early-stopping patience at 10 (the pretraining's) instead of 5; 19 the bottom topics
started from the one-layer model's instead of 500 sweeps of collapsed Gibbs LDA (``gibbs_sweeps=0``, the default
before the Gibbs start: the pretraining then runs to its own early stop).
Corpora: benchmarks/bench_corpora.py (each with its own vocabulary and train/test split).
Per row: test document-completion perplexity (20% of each test document held out, seed 0) with the
default inference (the encoder, then the bottom layer's conjugate fixed point at the prior strength the
fit chose), with the encoder mean alone, and with the best on the test documents of the model's prior
only scaled (the choice before the square-root candidates; a bound in its favour),
NPMI of the top 10 words per layer on the training split, the share of near-duplicate topics per layer
(top-10 Jaccard > 0.5 with another topic of the layer), topic diversity of the top 25 words per layer,
the share of theta entries below 1e-3 per layer for the posterior means (what ``transform`` returns) and
for one posterior draw per document (seed 0), fit seconds, mean seconds per epoch and the epochs run. The
JSON also records the machine and the wall time.
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
from deepgbn_text.storage.atomic import write_json, write_text
from deepgbn_text.evaluate import completion_perplexity, completion_split, near_duplicate_share, topic_diversity
from deepgbn_text.evaluate.coherence import DocumentCooccurrence, npmi_coherence
from deepgbn_text.model import SparseBatch
from deepgbn_text.model.refine import PRIOR_STRENGTHS, PriorStrength
from deepgbn_text.training.trainer import EVAL_BATCH_SIZE

from bench_corpora import load

SPARSE_BELOW = 1e-3
HELDOUT_FRACTION = 0.2
TD_TOP_N = 25
NPMI_TOP_N = 10
OFF = dict(layer_likelihood=0.0, balanced_links=False, upper_concentration=1.0, gate_max=1.0, pretrain_bottom=False,
           gamma_concentration=0.0, topic_lr_scale=10.0)
ROWS = {
    "default (bottom pretrained, Gibbs LDA start, nonlinear gate <= 0.1, free links, Dirichlet 0.1, per-layer likelihood, 128-32-8)":
        dict(n_topics=[128, 32, 8]),
    "without the per-layer likelihood": dict(n_topics=[128, 32, 8], layer_likelihood=0.0),
    "balanced (transport-plan) upper links": dict(n_topics=[128, 32, 8], balanced_links=True),
    "flat prior on the upper loadings": dict(n_topics=[128, 32, 8], upper_concentration=1.0),
    "free gate (expert weight up to 1)": dict(n_topics=[128, 32, 8], gate_max=1.0),
    "linear links": dict(n_topics=[128, 32, 8], link="linear"),
    "default mechanisms, widths 128-64-32": dict(n_topics=[128, 64, 32]),
    "before (all four off, no pretraining, the plain gamma prior, topics at 10x, 128-64-32)": dict(n_topics=[128, 64, 32], **OFF),
    "depth 1": dict(n_topics=[128]),
    "depth 5 (128-32-8-4-2)": dict(n_topics=[128, 32, 8, 4, 2]),
    "gamma posterior (implicit reparameterisation)": dict(n_topics=[128, 32, 8], posterior="gamma"),
    "without the bottom pretraining (cold start)": dict(n_topics=[128, 32, 8], pretrain_bottom=False),
    "without the EM refinement of the bottom topics": dict(n_topics=[128, 32, 8], topic_em_steps=0),
    "the plain gamma prior Gam(a, 1) below the top (gamma_concentration 0)":
        dict(n_topics=[128, 32, 8], gamma_concentration=0.0),
    "the topic logits at 10x the learning rate (the default for short texts only)":
        dict(n_topics=[128, 32, 8], topic_lr_scale=10.0),
    "random upper links after the pretraining, the deep KL warm-up at 30 epochs (the start before)":
        dict(n_topics=[128, 32, 8], upper_start="random", deep_kl_warmup=None),
    "random upper links, the deep KL warm-up at 10 epochs": dict(n_topics=[128, 32, 8], upper_start="random"),
    "partitioned upper links, the deep KL warm-up at 30 epochs": dict(n_topics=[128, 32, 8], deep_kl_warmup=None),
    "the deep stage's patience at 10, as the pretraining's (the default before)": dict(n_topics=[128, 32, 8], deep_patience=10),
    "the bottom topics from the one-layer model, not Gibbs LDA (gibbs_sweeps 0, the default before)":
        dict(n_topics=[128, 32, 8], gibbs_sweeps=0),
}


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


def perplexity_with_prior(model: GeneralizedGBN, prior: PriorStrength, observed, heldout) -> float:  # type: ignore[no-untyped-def]
    """The model's completion perplexity with ``prior`` in place of the prior strength its fit chose."""
    chosen, model.prior_ = model.prior_, prior
    try:
        return completion_perplexity(model, observed, heldout)
    finally:
        model.prior_ = chosen


def markdown_table(results: list[dict[str, object]]) -> str:
    lines = ["| # | row | test perplexity | prior only scaled, best on test | encoder mean alone | NPMI per layer "
             "| near-duplicates per layer | TD per layer | mean theta < 1e-3 per layer | sampled theta < 1e-3 per layer "
             "| epochs | fit s | s / epoch |",
             "|---:|---|---:|---:|---:|---|---|---|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['index']} | {r['row']} | {r['perplexity']} | {r['perplexity_prior_scaled']} "
                     f"| {r['perplexity_encoder']} | {r['npmi']} | {r['near_duplicates']} "
                     f"| {r['td']} | {r['sparsity']} | {r['sparsity_sample']} | {r['epochs']} | {r['fit_seconds']} "
                     f"| {r['seconds_per_epoch']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="20news", help="a corpus of benchmarks/bench_corpora.py")
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
        train, _ = load(args.corpus)
        print(json.dumps({"machine": machine(), **step_timing(train, args.step_timing, args.seed, args.device)}))
        return
    names = list(ROWS)
    indices = [int(i) for i in args.rows.split(",")]
    if any(not 0 <= i < len(names) for i in indices):
        sys.exit(f"--rows: row numbers run from 0 to {len(names) - 1}")
    run_started = time.perf_counter()
    train, test = load(args.corpus)
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
        thetas = model.transform_layers(observed)
        layers = range(1, len(thetas) + 1)
        topic_words = [model.topic_word(layer) for layer in layers]
        epoch_seconds = [record["seconds"] for record in model.history_]
        scaled = min(perplexity_with_prior(model, prior, observed, heldout) for prior in PRIOR_STRENGTHS
                     if prior.power == 1.0)
        row = {"index": index, "row": name, "params": params,
               "perplexity": round(completion_perplexity(model, observed, heldout), 1),
               "perplexity_prior_scaled": round(scaled, 1),
               "perplexity_encoder": round(completion_perplexity(model.set_params(conjugate_steps=0), observed,
                                                                 heldout), 1),
               "prior": str(model.prior_),
               "npmi": [round(npmi_coherence(tw, reference, NPMI_TOP_N), 3) for tw in topic_words],
               "sparsity": [round(float(np.mean(t < SPARSE_BELOW)), 3) for t in thetas],
               "sparsity_sample": sample_sparsity(model, observed),
               "near_duplicates": [round(near_duplicate_share(tw), 3) for tw in topic_words],
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
                               "corpus": args.corpus, "vocab": train.n_words, "n_train_docs": train.n_docs, "n_test_docs": test.n_docs,
                               "wall_seconds": round(wall, 1), "rows": results})
    if args.markdown:
        text = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else "# Benchmarks\n"
        start, end = f"<!-- ablations:{args.corpus}:start -->", f"<!-- ablations:{args.corpus}:end -->"
        section = (f"{start}\n### {args.corpus} ({train.n_docs} training documents, V = {train.n_words}, seed "
                   f"{args.seed})\n\n{table}\n{end}")
        if start in text:
            text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        write_text(args.markdown, text)


if __name__ == "__main__":
    main()
