"""Where a training step's time goes: torch.profiler over the library's own training loop (issue 5: "measure
with the profiler and fix what dominates"). A benchmark that prints tables and writes JSON, not a test.

    python benchmarks/profile_step.py build/gpu/20ng-train --device cuda --batch-size 256 --json $OUT/profile.json

On a prepared corpus folder it builds the default model (128-64-32), trains --steps steps once to warm up
(kernels, allocator, cuDNN/cuBLAS handles), times the same number of steps without the profiler, then
again under it. It prints the operators with the most self device time and the most self CPU time, and
the step's kernel launches and summed kernel time: kernel time far below the wall time means the step is
bound by launches and Python, not by the device's arithmetic or memory.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
"""Runtime and driver calls that start a kernel (their count is the step's kernel launches)."""


def timed_run(trainer_for: Any, device: Any) -> float:
    import torch

    trainer = trainer_for()
    started = time.perf_counter()
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a prepared corpus folder (ggbn-topics prepare)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20, help="steps profiled (at most one epoch)")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--top", type=int, default=20, help="operators shown in each table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from deepgbn_text import Corpus
    from deepgbn_text.estimator import default_topics, resolve_device
    from deepgbn_text.model.gbn import GBN
    from deepgbn_text.train import TrainConfig, Trainer, deterministic_on_cpu

    device = resolve_device(args.device)
    corpus = Corpus.load(args.folder)
    rows = np.flatnonzero(np.diff(corpus.counts.indptr) > 0)
    rows = np.random.default_rng(args.seed).permutation(rows)[: args.steps * args.batch_size]
    steps = -(-len(rows) // args.batch_size)
    torch.manual_seed(args.seed)
    module = GBN(corpus.n_words, default_topics(args.layers), args.hidden, "nonlinear").to(device)
    config = TrainConfig(epochs=1, batch_size=args.batch_size)

    def trainer() -> Trainer:
        return Trainer(module, corpus.counts, rows, None, config, args.seed, device)

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with deterministic_on_cpu(device):
        timed_run(trainer, device)  # warm-up
        wall = timed_run(trainer, device)
        ready = trainer()
        with profile(activities=activities) as prof:
            ready.run()
            if device.type == "cuda":
                torch.cuda.synchronize()
    events = prof.key_averages()
    launches = sum(e.count for e in events if e.key in LAUNCHES)
    kernel_us = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA")
    cpu_us = sum(e.self_cpu_time_total for e in events)
    summary: dict[str, Any] = {
        "folder": str(args.folder), "device": str(device), "batch_size": args.batch_size, "steps": steps,
        "n_words": corpus.n_words, "hidden": args.hidden, "topics": default_topics(args.layers),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "wall_seconds": wall, "step_seconds": wall / steps,
        "kernel_launches_per_step": launches / steps, "kernel_seconds_per_step": kernel_us / 1e6 / steps,
        "profiled_cpu_seconds_per_step": cpu_us / 1e6 / steps,
        "top_device": [(e.key, e.count, e.self_device_time_total / 1e3) for e in
                       sorted(events, key=lambda e: -e.self_device_time_total)[: args.top]],
        "top_cpu": [(e.key, e.count, e.self_cpu_time_total / 1e3) for e in
                    sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]],
    }
    print(f"{args.folder} on {summary['device_name']}, batch {args.batch_size}, {steps} steps: "
          f"{1e3 * summary['step_seconds']:.2f} ms a step unprofiled; {summary['kernel_launches_per_step']:.0f} "
          f"kernel launches and {1e3 * summary['kernel_seconds_per_step']:.2f} ms of kernels a step")
    for title, key in (("self device time", "top_device"), ("self CPU time (profiled)", "top_cpu")):
        if key == "top_device" and device.type != "cuda":
            continue
        print(f"\noperators with the most {title}, ms over {steps} steps:")
        for name, count, ms in summary[key]:
            print(f"  {ms:10.2f}  {count:7d}x  {name[:100]}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
