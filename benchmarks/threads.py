"""Seconds per training epoch against torch threads and OpenMP's wait policy, on a prepared corpus folder.

    python benchmarks/threads.py build/speed/real-20news-v2000 --json benchmarks/results/threads.json

Each setting runs in a fresh process (OpenMP reads OMP_WAIT_POLICY once, at start-up) and fits the
default model for a few epochs at each batch size; the table shows the median epoch. Run it with nothing
else on the machine: it measures how the threads share the cores, so other jobs change the answer.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from deepgbn_text.storage.atomic import write_json

SETTINGS = [("2, default (spinning)", 2, None), ("1", 1, None), ("2, OMP_WAIT_POLICY=PASSIVE", 2, "PASSIVE")]


def child(folder: str, threads: int, batches: list[int], epochs: int) -> None:
    import torch

    from deepgbn_text import Corpus, GeneralizedGBN

    torch.set_num_threads(threads)
    corpus = Corpus.load(folder)
    result = {}
    for batch in batches:
        model = GeneralizedGBN(epochs=epochs, batch_size=batch, patience=epochs, device="cpu").fit(corpus)
        result[batch] = statistics.median(r["seconds"] for r in model.history_)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a corpus folder written by `ggbn-topics prepare`")
    parser.add_argument("--batch-sizes", default="64,128,1024")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # torch threads, in the child process
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if args.child:
        child(args.folder, args.child, batches, args.epochs)
        return
    rows = []
    for label, threads, policy in SETTINGS:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        command = [sys.executable, __file__, args.folder, "--batch-sizes", args.batch_sizes, "--epochs",
                   str(args.epochs), "--child", str(threads)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        rows.append({"setting": label, "seconds_per_epoch": json.loads(out.splitlines()[-1])})
    print("| threads | " + " | ".join(f"batch {b:,}" for b in batches) + " |")
    print("|---|" + "---:|" * len(batches))
    for row in rows:
        print(f"| {row['setting']} | " + " | ".join(f"{row['seconds_per_epoch'][str(b)]:.2f}" for b in batches) + " |")
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "folder": args.folder, "load_average":
                               os.getloadavg(), "rows": rows})


if __name__ == "__main__":
    main()
