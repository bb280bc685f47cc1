"""Log-log growth plot of speed.py's grid: epoch time and peak memory against N (one line per V) and against V
(one line per N), for the synthetic GBN corpora.

    python benchmarks/plot_speed.py benchmarks/results/speed-cpu.json [speed-cuda.json ...] --out docs/img/speed-growth.png

Each (machine, batch size) pair gets its own line style (files from one machine, such as a grid and its
largest corpus run apart, are drawn together); hollow markers are extrapolated epoch times
(a fixed number of steps timed). Memory is peak RSS, with the issue's bound 2 x (CSR counts + model) dotted for the largest V; for CUDA runs the peak GPU memory is drawn too (dashed).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "img" / "speed-growth.png"
STYLES = ["-", "--", ":", "-."]


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n >= 1000 else str(n)


def series(rows: list[dict[str, Any]], by: str, across: str) -> dict[int, list[dict[str, Any]]]:
    """Rows grouped by ``by`` ('n_words' or 'n_docs'), each group sorted by ``across``."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    return {key: sorted(group, key=lambda r: r[across]) for key, group in sorted(groups.items())}


def plot(paths: list[Path], out: Path, title: str = "") -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepgbn_text.storage.atomic import atomic_path

    machines: dict[str, list[dict[str, Any]]] = {}  # files from the same machine are drawn as one run
    for path in paths:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        where = payload["machine"].get("gpu") or f"CPU, {payload['machine']['torch_threads']} threads"
        machines.setdefault(where, []).extend(
            r for r in payload.get("grid", []) if "error" not in r and r.get("kind") == "synthetic")
    runs = []
    for where, rows in machines.items():
        for batch in sorted({r["batch_size"] for r in rows}):
            runs.append((f"{where}, batch {batch}", [r for r in rows if r["batch_size"] == batch]))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = [
        (axes[0, 0], "n_words", "n_docs", "epoch_seconds", "documents N", "seconds per epoch", "V"),
        (axes[0, 1], "n_docs", "n_words", "epoch_seconds", "vocabulary V", "seconds per epoch", "N"),
        (axes[1, 0], "n_words", "n_docs", "peak_rss_train", "documents N", "peak memory (GiB)", "V"),
        (axes[1, 1], "n_docs", "n_words", "peak_rss_train", "vocabulary V", "peak memory (GiB)", "N"),
    ]
    for ax, by, across, key, xlabel, ylabel, name in panels:
        for run_index, (run_label, rows) in enumerate(runs):
            style = STYLES[run_index % len(STYLES)]
            for color_index, (value, group) in enumerate(series(rows, by, across).items()):
                color = colors[color_index % len(colors)]
                xs = [r[across] for r in group]
                scale = 2**30 if key.startswith("peak") else 1.0
                ys = [r[key] / scale for r in group]
                ax.plot(xs, ys, style, color=color, label=f"{name} = {_label(value)} ({run_label})")
                for x, y, r in zip(xs, ys, group):
                    ax.plot([x], [y], "o", color=color, markerfacecolor="white" if r.get("extrapolated") else color)
                if key.startswith("peak") and across == "n_docs" and value == max(r["n_words"] for r in rows) \
                        and run_index == 0:
                    bound = [2 * (r["csr_bytes"] + r["model_bytes"]) / 2**30 for r in group]
                    ax.plot(xs, bound, ":", color="grey", label=f"2 x (CSR counts + model), V = {_label(value)}")
                if key.startswith("peak") and any("gpu_peak_allocated_train" in r for r in group):
                    gpu = [r.get("gpu_peak_allocated_train", float("nan")) / 2**30 for r in group]
                    ax.plot(xs, gpu, style, color=color, alpha=0.5, linewidth=3,
                            label=f"{name} = {_label(value)}, GPU memory ({run_label})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = sorted({r[across] for _, rows in runs for r in rows})
        ax.set_xticks(ticks, [_label(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        if key.startswith("peak"):  # GiB: label powers of two
            low, high = ax.get_ylim()
            ax.set_yticks([2.0**k for k in range(-6, 10) if low <= 2.0**k <= high])
            ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_title("epoch time vs N (hollow: extrapolated from timed steps)", fontsize=10)
    axes[0, 1].set_title("epoch time vs V", fontsize=10)
    axes[1, 0].set_title("peak RSS of the training process vs N", fontsize=10)
    axes[1, 1].set_title("peak RSS vs V", fontsize=10)
    for ax in axes.ravel():
        ax.legend(fontsize=6.5)
    if title:
        fig.suptitle(title, fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files written by speed.py")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--title", default="", help="a line above the panels (what the runs measured)")
    args = parser.parse_args()
    plot(args.results, args.out, args.title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
