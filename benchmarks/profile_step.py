"""Where a training step's time goes: torch.profiler over the library's own training steps (issue 5: "measure
with the profiler and fix what dominates"). A benchmark that prints tables and writes JSON, not a test.

    python benchmarks/profile_step.py build/gpu/20ng-train --device cuda --batch-size 256 --json $OUT/profile.json

On a prepared corpus folder it builds the default model (128-64-32) and a trainer, runs --steps steps of it
once to warm up (kernels, allocator, cuBLAS handles, the CUDA graphs' captures), times the same steps
again (batches gathered as training gathers them), then runs them under the profiler. It prints the
operators with the most self device time and the most self CPU time, and the step's kernel launches and
summed kernel time: kernel time far below the wall time means the step is bound by launches and Python,
not by the device's arithmetic or memory. On CUDA it then runs the steps once more under
``torch.cuda.set_sync_debug_mode("warn")`` and lists where the host waited for the device (the Python
line that called a synchronising operation, with its count: a count of --steps or more is a sync in every
step). Last, it times the likelihood's gather of topic rows at one batch's word ids, forward and backward,
three ways.
"""
from __future__ import annotations

import argparse
import collections
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch")
"""Runtime and driver calls that start a kernel or a captured graph of them (their count is the step's launches)."""


def run_steps(trainer: Any, rows: np.ndarray, batch_size: int) -> None:
    """The trainer's steps over ``rows`` after the KL warm-up (weight 1), its batches gathered as in training."""
    for _, batch in trainer._batches(rows, batch_size):
        trainer._step(batch, 1.0)


def timed_steps(trainer: Any, rows: np.ndarray, batch_size: int, device: Any) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    run_steps(trainer, rows, batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def sync_points(trainer: Any, rows: np.ndarray, batch_size: int) -> dict[str, int]:
    """Run the steps on CUDA with sync debugging on: each place that made the host wait for the device, counted."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run_steps(trainer, rows, batch_size)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    places = (f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message))
    return dict(collections.Counter(places).most_common())


def gather_variants(cols: Any, n_words: int, width: int, device: Any, repeats: int = 10) -> dict[str, Any]:
    """The likelihood's gather of topic rows at a batch's word ids, forward and backward, three ways:
    advanced indexing, ``embedding`` (what the model does) and ``index_select``. Milliseconds a pass,
    and whether two backward passes gave bit-identical gradients."""
    import torch
    import torch.nn.functional as F

    variants = {"index": lambda w: w[cols], "embedding": lambda w: F.embedding(cols, w),
                "index_select": lambda w: w.index_select(0, cols)}
    weights = torch.randn(n_words, width, device=device, requires_grad=True)
    upstream = torch.randn(len(cols), width, device=device)
    result: dict[str, Any] = {}
    for name, gather in variants.items():
        grads = [torch.autograd.grad(gather(weights), weights, upstream)[0] for _ in range(2)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            torch.autograd.grad(gather(weights), weights, upstream)
        if device.type == "cuda":
            torch.cuda.synchronize()
        result[name] = {"ms": 1e3 * (time.perf_counter() - started) / repeats,
                        "deterministic": bool(torch.equal(grads[0], grads[1]))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a prepared corpus folder (ggbn-topics prepare)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20, help="steps profiled (at most one epoch)")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--torch-compile", action="store_true", help="train through torch.compile")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="on CUDA, run the steps without CUDA graphs")
    parser.add_argument("--top", type=int, default=20, help="operators shown in each table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from deepgbn_text import Corpus
    from deepgbn_text.estimator import default_topics, resolve_device
    from deepgbn_text.model.gbn import GBN
    from deepgbn_text.training.trainer import TrainConfig, Trainer, deterministic_on_cpu

    device = resolve_device(args.device)
    corpus = Corpus.load(args.folder)
    rows = np.flatnonzero(np.diff(corpus.counts.indptr) > 0)
    rows = np.random.default_rng(args.seed).permutation(rows)[: args.steps * args.batch_size]
    steps = -(-len(rows) // args.batch_size)
    torch.manual_seed(args.seed)
    module = GBN(corpus.n_words, default_topics(args.layers), args.hidden, "nonlinear").to(device)
    config = TrainConfig(epochs=1, batch_size=args.batch_size, torch_compile=args.torch_compile,
                         cuda_graphs=args.cuda_graphs)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with deterministic_on_cpu(device):
        trainer = Trainer(module, corpus.counts, rows, None, config, args.seed, device)
        timed_steps(trainer, rows, args.batch_size, device)  # warm-up
        wall = timed_steps(trainer, rows, args.batch_size, device)
        with profile(activities=activities) as prof:
            run_steps(trainer, rows, args.batch_size)
            if device.type == "cuda":
                torch.cuda.synchronize()
        syncs = sync_points(trainer, rows, args.batch_size) if device.type == "cuda" else {}
        first = corpus.counts[rows[: args.batch_size]]
        gathers = gather_variants(torch.as_tensor(first.indices, dtype=torch.long, device=device), corpus.n_words,
                                  module.topics[0], device)
    events = prof.key_averages()
    launches = sum(e.count for e in events if e.key in LAUNCHES)
    kernel_us = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA")
    cpu_us = sum(e.self_cpu_time_total for e in events)
    summary: dict[str, Any] = {
        "folder": str(args.folder), "device": str(device), "batch_size": args.batch_size, "steps": steps,
        "torch_compile": args.torch_compile, "cuda_graphs": trainer.graphs is not None,
        "graph_captures": trainer.graphs.captures if trainer.graphs is not None else 0,
        "n_words": corpus.n_words, "hidden": args.hidden, "topics": default_topics(args.layers),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "wall_seconds": wall, "step_seconds": wall / steps,
        "kernel_launches_per_step": launches / steps, "kernel_seconds_per_step": kernel_us / 1e6 / steps,
        "profiled_cpu_seconds_per_step": cpu_us / 1e6 / steps,
        "host_syncs": syncs, "gather_backward": gathers,
        "top_device": [(e.key, e.count, e.self_device_time_total / 1e3) for e in
                       sorted(events, key=lambda e: -e.self_device_time_total)[: args.top]],
        "top_cpu": [(e.key, e.count, e.self_cpu_time_total / 1e3) for e in
                    sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]],
    }
    print(f"{args.folder} on {summary['device_name']}, batch {args.batch_size}, {steps} steps"
          f"{' (compiled)' if args.torch_compile else ''}{' (CUDA graphs)' if trainer.graphs else ''}: "
          f"{1e3 * summary['step_seconds']:.2f} ms a step unprofiled; {summary['kernel_launches_per_step']:.0f} "
          f"kernel launches and {1e3 * summary['kernel_seconds_per_step']:.2f} ms of kernels a step")
    for title, key in (("self device time", "top_device"), ("self CPU time (profiled)", "top_cpu")):
        if key == "top_device" and device.type != "cuda":
            continue
        print(f"\noperators with the most {title}, ms over {steps} steps:")
        for name, count, ms in summary[key]:
            print(f"  {ms:10.2f}  {count:7d}x  {name[:100]}")
    if device.type == "cuda":
        print(f"\nwhere the host waited for the device over {steps} steps (file:line, times):")
        for place, count in syncs.items():
            print(f"  {count:5d}  {place}")
    print(f"\ngathering {first.nnz:,} topic rows of {corpus.n_words:,}, forward and backward:")
    for name, row in gathers.items():
        print(f"  {name:13s} {row['ms']:8.2f} ms  deterministic: {row['deterministic']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
