"""Long-run check: repeated fit / transform / save / load cycles in one process, with the resident
memory measured after every cycle. A leak shows as steady growth after the first cycles.

    python benchmarks/soak.py --cycles 30 --json benchmarks/results/soak.json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from deepgbn_text import GeneralizedGBN, corpora

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


def one_cycle(corpus, folder: Path, seed: int, epochs: int) -> float:
    """Fit, transform, save, load and transform again; return the held-out perplexity of the fit."""
    model = GeneralizedGBN(n_topics=[32, 16], n_layers=2, hidden=64, epochs=epochs, seed=seed, device="cpu")
    model.fit(corpus, checkpoint=folder / "checkpoint.pt")
    thetas = model.transform_layers(corpus)
    model.save(folder / "model")
    loaded = GeneralizedGBN.load(folder / "model", device="cpu")
    again = loaded.transform_layers(corpus)
    if not all(np.allclose(a, b) for a, b in zip(thetas, again)):
        raise AssertionError("a loaded model transforms differently from the one saved")
    return model.history_[-1]["val_perplexity"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--docs", type=int, default=1000, help="documents of the bundled sample to use")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "soak.json")
    args = parser.parse_args()

    corpus = corpora.load("20news-sample").subset(np.arange(args.docs))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cycle in range(1, args.cycles + 1):
            started = time.perf_counter()
            perplexity = one_cycle(corpus, Path(tmp), seed=cycle, epochs=args.epochs)
            gc.collect()
            rows.append({"cycle": cycle, "rss_mb": rss_mb(), "seconds": time.perf_counter() - started,
                         "val_perplexity": perplexity})
            print(f"cycle {cycle:3d}  rss {rows[-1]['rss_mb']:8.1f} MB  {rows[-1]['seconds']:5.1f} s  "
                  f"val ppl {perplexity:7.1f}", flush=True)
    settled = rows[min(2, len(rows) - 1):]
    slope = np.polyfit([r["cycle"] for r in settled], [r["rss_mb"] for r in settled], 1)[0] if len(settled) > 1 else 0.0
    summary = {"cycles": args.cycles, "first_rss_mb": rows[0]["rss_mb"], "last_rss_mb": rows[-1]["rss_mb"],
               "growth_mb_per_cycle_after_cycle_2": float(slope), "machine": platform.machine(),
               "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(json.dumps(summary, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "cycles": rows}, indent=1))


if __name__ == "__main__":
    main()
