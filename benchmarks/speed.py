"""Speed benchmark: throughput, peak memory and time to reach LDA's perplexity (issue 5, "Fast and large").

Training throughput and peak memory over a (documents x vocabulary) grid, and the time our model needs to
reach tomotopy's and gensim's perplexity. A benchmark that prints tables and writes JSON, not a test.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python benchmarks/speed.py --threads 2  # CPU: grid + LDA
    python benchmarks/speed.py --quick                                              # smoke run (~1 min)
    python benchmarks/speed.py --device cuda --parts grid --batch-size 4096,16384 \\
        --corpus 20ng=build/gpu/20ng-train --json $OUT/speed-cuda.json              # GPU (benchmarks/gpu_run.sh)

Part ``grid``. Synthetic corpora drawn from a 3-layer gamma belief network (``synthetic_gbn.py``,
about 100 tokens per document, generated in chunks and cached as memory-mappable corpus folders under
``build/speed``) for every N in --sizes and V, plus real corpora (20NG V = 2,000 and IMDB 100k
V = 5,000 when ``../shared/corpora`` exists, or prepared folders given with --corpus). Every
configuration runs in a fresh process, so peaks do not mix: it maps the corpus (``Corpus.load``), builds
the model (--layers widths 128-64-32..., --hidden), trains --warmup-steps steps, then times training with
the library's own loop (``deepgbn_text.training.trainer.Trainer``, the loop ``GeneralizedGBN.fit`` runs, with the
same deterministic kernels on CPU): a whole epoch over all N documents when it has at most --max-steps
steps, else --max-steps steps over a random subset of the documents, and the epoch time is extrapolated
from their documents/s (marked "extrapolated"). The epoch time covers everything in the loop: gathering
CSR rows, the host-to-device copy, forward, backward and Adam. Then, unless --no-validation, the
estimator's per-epoch validation (held-out ELBO and completion perplexity on a random
--val-fraction of the documents) is timed as a separate column (on at most --max-val-docs of them,
scaled up linearly and marked "extrapolated" when capped; the peak RSS with validation is then that
of the capped set). Peak RSS is the peak resident set of that
process (it includes the interpreter and torch, reported as "base RSS", and the resident pages of the
memory-mapped counts; read as VmHWM, since getrusage's ru_maxrss on Linux keeps the parent's peak across
exec); peak GPU memory is torch's ``max_memory_allocated``.

Part ``lda``. On 20NG (V = 2,000, the vectorizer of compare_20news.py) and IMDB 100k (90/10 split,
V = 5,000): tomotopy and gensim LDA (K = the first layer's width, 128) are fitted and scored with the
evaluator of ``compare`` (document completion, 20% of each test document held out, seed 0); then the
Generalized GBN (defaults: batch 64, 300 epochs, early stopping) is fitted with a callback that scores
the same test split after every epoch (its time excluded from the clock) and records when it first
reaches each LDA's final perplexity. Ratios are our time / their time. tomotopy runs with --threads
workers, torch with --threads threads; gensim's LdaModel is single-process (its numpy BLAS threads are
recorded). Needs gensim and tomotopy (the part is skipped, with a note, where they are missing).

On a CPU shared with other processes set OMP_WAIT_POLICY=PASSIVE: with torch's default (spinning)
OpenMP threads, 2 threads on 2 cores with one core taken by another process ran 13x slower than 1 thread.

Writes JSON (--json, after every configuration, so an interrupted run keeps what it measured), a
markdown file next to it with the tables, and with --plot the log-log growth plot (``plot_speed.py``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CACHE = ROOT / "build" / "speed"
FULL_DOCS = (10_000, 100_000, 1_000_000)
FULL_VOCAB = (2_000, 20_000, 50_000)
QUICK_SIZES = "2kx500,5kx500,2kx1k,5kx1k"
FORBIDDEN = ("spacy", "gensim", "tomotopy")
"""Packages the GPU image lacks: the grid part must never import them."""


# ------------------------------------------------------------------------------------------- helpers
def parse_count(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2000' -> 2000."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    if text == "all":
        return [(n, v) for n in FULL_DOCS for v in FULL_VOCAB]
    if text in ("", "none"):
        return []
    sizes = []
    for item in text.split(","):
        n, _, v = item.strip().partition("x")
        sizes.append((parse_count(n), parse_count(v)))
    return sizes


def parse_per_dataset(text: str) -> dict[str, int]:
    """'20news=1000,imdb=300' -> dict; a bare number applies to every data set ('*')."""
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        out[key.strip() if value else "*"] = int(value or key)
    return out


def per_dataset(values: dict[str, int], dataset: str) -> int:
    return values.get(dataset, values.get("*", next(iter(values.values()))))


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM (peak), RssAnon (heap) and RssFile (mapped files) of this process, in bytes."""
    fields: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def peak_rss() -> int:
    """Peak resident set size of this process in bytes: VmHWM where /proc exists, else getrusage.

    On Linux ``ru_maxrss`` survives ``exec``: a child started by a parent that had a larger RSS reports
    the parent's peak. VmHWM belongs to the new address space, so it is the child's own peak."""
    return proc_status().get("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine(device: str, threads: int | None) -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": threads or torch.get_num_threads(), "cpu": cpu_name(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "device": device,
    }
    for name in ("numpy", "scipy", "scikit-learn"):
        try:
            info[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    try:
        info["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def library_fingerprint() -> dict[str, Any]:
    """A hash of the package's source files and their newest modification time: which code was measured
    (the library changes while benchmarks run; this tells two runs' code apart without git)."""
    import hashlib

    package = ROOT / "deepgbn_text"
    digest = hashlib.sha256()
    newest = 0.0
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    return {"sha256": digest.hexdigest()[:16], "newest_file": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest))}


def forbidden_imports() -> list[str]:
    return sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in FORBIDDEN})


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def write_results(path: Path, payload: dict[str, Any]) -> None:
    from deepgbn_text.storage.atomic import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)


# ------------------------------------------------------------------------- one grid configuration
def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: map the corpus, train, time, and report memory (see the module docstring)."""
    import torch

    from deepgbn_text import Corpus
    from deepgbn_text.storage.csr_files import row_sums
    from deepgbn_text.estimator import default_topics, resolve_device
    from deepgbn_text.model.batch import DeviceCSR
    from deepgbn_text.model.gbn import GBN
    from deepgbn_text.training.trainer import TrainConfig, Trainer, deterministic_on_cpu

    if spec.get("host_data"):  # measure the host path (scipy gather, copy per chunk) even where the GPU has room
        DeviceCSR.fits = staticmethod(lambda counts, device: False)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    device = resolve_device(spec["device"])
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.init()
    base = peak_rss()
    started = time.perf_counter()
    corpus = Corpus.load(spec["folder"])
    load_seconds = time.perf_counter() - started
    after_load = proc_status()
    counts = corpus.counts
    lengths = np.diff(counts.indptr)
    rows = np.flatnonzero(lengths > 0)
    doc_tokens = row_sums(counts)  # not counts.sum(axis=1): that copies the data as int64 (a peak of 2x CSR)
    rng = np.random.default_rng(spec["seed"])
    order = rng.permutation(rows)
    batch = spec["batch_size"]
    topics = default_topics(spec["layers"])
    torch.manual_seed(spec["seed"])
    module = GBN(corpus.n_words, topics, spec["hidden"], spec["link"]).to(device)
    # with CUDA graphs the first epoch runs a few steps eagerly and captures a graph per batch shape: on a
    # GPU the timed trainer runs two epochs and the second one is timed
    timed_epochs = 2 if cuda else 1
    config = TrainConfig(epochs=timed_epochs, batch_size=batch, torch_compile=spec.get("torch_compile", False),
                         cuda_graphs=spec.get("cuda_graphs", True))
    steps_epoch = math.ceil(len(rows) / batch)
    timed_steps = min(steps_epoch, spec["max_steps"])
    extrapolated = timed_steps < steps_epoch
    timed_rows = order[: batch * timed_steps] if extrapolated else rows
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result: dict[str, Any] = {}
    with deterministic_on_cpu(device):
        # compiled: warm up on the timed rows, so that every shape (a short last batch) is compiled before timing
        warm_rows = timed_rows if config.torch_compile else order[: batch * spec["warmup_steps"]]
        warmup = time.perf_counter()
        Trainer(module, counts, warm_rows, None, config, spec["seed"], device).run()
        result["warmup_seconds"] = time.perf_counter() - warmup
        records: list[dict[str, Any]] = []
        setup = time.perf_counter()
        trainer = Trainer(module, counts, timed_rows, None, config, spec["seed"], device, callback=records.append)
        setup = time.perf_counter() - setup  # on a GPU with room: copying the whole corpus there (DeviceCSR)
        wall = time.perf_counter()
        trainer.run()
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - wall
        seconds = records[timed_epochs - 1]["seconds"]
        docs_per_s = len(timed_rows) / seconds
        tokens_per_s = float(doc_tokens[timed_rows].sum()) / seconds
        result.update({
            "corpus_on_device": trainer.device_counts is not None, "trainer_setup_seconds": setup,
            "timed_steps": timed_steps, "steps_per_epoch": steps_epoch, "extrapolated": extrapolated,
            "timed_docs": int(len(timed_rows)), "timed_seconds": seconds, "timed_wall_seconds": wall,
            "docs_per_second": docs_per_s, "tokens_per_second": tokens_per_s,
            "epoch_seconds": len(rows) / docs_per_s, "step_seconds": seconds / timed_steps,
            "train_elbo_per_token": records[timed_epochs - 1]["train_elbo_per_token"],
            "skipped_steps": records[timed_epochs - 1]["skipped_steps"], "timed_epoch": timed_epochs,
            "graph_captures": trainer.graphs.captures if trainer.graphs is not None else 0,
            "peak_rss_train": peak_rss(), "status_train": proc_status(),
        })
        if cuda:
            result["gpu_peak_allocated_train"] = torch.cuda.max_memory_allocated()
            result["gpu_peak_reserved_train"] = torch.cuda.max_memory_reserved()
        n_val = int(round(spec["val_fraction"] * len(rows)))
        n_timed = min(n_val, spec.get("max_val_docs") or n_val)
        if spec["validate"] and n_timed >= 10:
            val_rows = np.sort(order[-n_timed:])
            setup = time.perf_counter()
            checker = Trainer(module, counts, order[:batch], val_rows, config, spec["seed"], device,
                              callback=records.append)
            setup = time.perf_counter() - setup
            checker.run()
            scale = n_val / n_timed  # validation is linear in its documents: extrapolate a capped subset
            result.update({
                "val_docs": n_val, "val_docs_timed": n_timed, "val_extrapolated": n_timed < n_val,
                "val_setup_seconds": setup * scale,
                "val_seconds": max(0.0, records[-1]["seconds"] - result["step_seconds"]) * scale,
                "val_perplexity": records[-1].get("val_perplexity"),
                "peak_rss_with_val": peak_rss(),
            })
            if cuda:
                result["gpu_peak_allocated_with_val"] = torch.cuda.max_memory_allocated()
    n_params = sum(p.numel() for p in module.parameters())
    result.update({
        "n_docs": corpus.n_docs, "n_words": corpus.n_words, "nonempty_docs": int(len(rows)),
        "nnz": int(counts.nnz), "n_tokens": int(doc_tokens.sum()),
        "csr_bytes": int(counts.data.nbytes + counts.indices.nbytes + counts.indptr.nbytes),
        "model_params": int(n_params), "model_bytes": int(4 * n_params),
        "train_state_bytes": int(16 * n_params),  # parameters, gradients and Adam's two moments (fp32)
        "topics": topics, "base_rss": base, "load_seconds": load_seconds, "status_after_load": after_load,
        "peak_rss": peak_rss(), "torch_threads": torch.get_num_threads(), "device": str(device),
        "torch_compile": config.torch_compile, "cuda_graphs": trainer.graphs is not None,
        "device_name": torch.cuda.get_device_name() if cuda else cpu_name(),
        "forbidden_imports": forbidden_imports(), "library": library_fingerprint(),
    })
    return result


# --------------------------------------------------------------------------------------- grid part
def real_corpora(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Prepared folders for the real corpora in the grid (made once, cached under build/speed)."""
    import scipy.sparse as sp

    from deepgbn_text import Corpus

    found = []
    for item in args.corpus or []:
        name, _, path = item.partition("=")
        found.append((name, Path(path).resolve()))
    if args.quick or not args.real or not (args.corpora / "20news").is_dir():
        return found
    from bench_data import load_20news, load_imdb

    folder = CACHE / "real-20news-v2000"
    if not (folder / "meta.json").is_file():
        train, _ = load_20news(args.corpora / "20news", 2000, None)
        train.save(folder)
    found.append(("20NG train", folder))
    folder = CACHE / f"real-imdb100k-v{args.imdb_vocab}"
    if (args.corpora / "imdb").is_dir() and not (folder / "meta.json").is_file():
        train, test = load_imdb(args.corpora, args.imdb_vocab, cache=CACHE)
        Corpus(sp.vstack([train.counts, test]).tocsr(), train.vocab).nonempty().save(folder)
    if (folder / "meta.json").is_file():
        found.append(("IMDB 100k", folder))
    return found


def grid_configs(args: argparse.Namespace) -> list[dict[str, Any]]:
    from synthetic_gbn import default_workers

    batches = [int(b) for b in args.batch_size.split(",")]
    steps = [int(s) for s in args.max_steps.split(",")]
    if len(steps) not in (1, len(batches)):
        sys.exit("--max-steps: give one number or one per --batch-size")
    steps_for = dict(zip(batches, steps * len(batches) if len(steps) == 1 else steps))
    configs = []
    corpora: list[tuple[str, Path, dict[str, Any]]] = []
    for n, v in sorted(parse_sizes(args.sizes)):
        corpora.append((f"GBN {n:,} x {v:,}", Path(), {"kind": "synthetic", "n": n, "v": v}))
    for name, folder in real_corpora(args):
        corpora.append((name, folder, {"kind": "real"}))
    workers = args.gen_workers or default_workers()
    for name, folder, info in corpora:
        for batch in batches:
            configs.append({"name": name, "folder": folder, "batch_size": batch, "max_steps": steps_for[batch],
                            "workers": workers, **info})
    return configs


def prepare(config: dict[str, Any], seed: int) -> None:
    """Generate (or find in the cache) a synthetic configuration's corpus just before it is measured."""
    from synthetic_gbn import corpus_stats, ensure_corpus

    if config["kind"] == "synthetic":
        started = time.perf_counter()
        config["folder"] = ensure_corpus(CACHE, config["n"], config["v"], seed, config["workers"])
        config["corpus"] = corpus_stats(config["folder"])
        config["corpus"]["prepare_seconds_this_run"] = round(time.perf_counter() - started, 2)


def run_grid(args: argparse.Namespace, payload: dict[str, Any], out: Path) -> None:
    grid: list[dict[str, Any]] = payload.setdefault("grid", [])
    for config in grid_configs(args):
        prepare(config, args.seed)
        spec = {"folder": str(config["folder"]), "batch_size": config["batch_size"], "max_steps": config["max_steps"],
                "warmup_steps": args.warmup_steps, "layers": args.layers, "hidden": args.hidden, "link": args.link,
                "device": args.device, "threads": args.threads, "seed": args.seed, "val_fraction": args.val_fraction,
                "validate": not args.no_validation, "max_val_docs": args.max_val_docs, "host_data": args.host_data,
                "torch_compile": args.torch_compile, "cuda_graphs": args.cuda_graphs}
        print(f"-- {config['name']}, batch {config['batch_size']} ...", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                                  text=True, timeout=args.config_timeout)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, RuntimeError, ValueError, IndexError) as exc:
            row = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"   failed: {row['error']}", flush=True)
        row.update({"name": config["name"], "kind": config["kind"], "batch_size": config["batch_size"],
                    "config_wall_seconds": round(time.perf_counter() - started, 1),
                    "load_average_after": load_average()})
        if "corpus" in config:
            row["corpus"] = config["corpus"]
        grid.append(row)
        if "error" not in row:
            print("   " + grid_row(row), flush=True)
        write_results(out, payload)


def grid_row(r: dict[str, Any]) -> str:
    epoch = fmt_num(r["epoch_seconds"], 2 if r["epoch_seconds"] < 100 else 0) + (" (extrapolated)" if r["extrapolated"] else "")
    gpu = fmt_bytes(r.get("gpu_peak_allocated_train")) if "gpu_peak_allocated_train" in r else "-"
    val = fmt_num(r.get("val_seconds"), 2) + (" (extrapolated)" if r.get("val_extrapolated") else "") \
        if "val_seconds" in r else "-"
    target = r["csr_bytes"] + r["model_bytes"]
    return (f"| {r['name']} | {r['batch_size']:,} | {fmt_num(r['docs_per_second'])} | {fmt_num(r['tokens_per_second'])} | "
            f"{epoch} | {r['timed_steps']:,}/{r['steps_per_epoch']:,} | {val} | {fmt_bytes(r['peak_rss_train'])} | "
            f"{fmt_bytes(r.get('peak_rss_with_val'))} | {fmt_bytes(r['base_rss'])} | {fmt_bytes(r['csr_bytes'])} | "
            f"{fmt_bytes(r['model_bytes'])} | {r['peak_rss_train'] / target:.2f} | "
            f"{(r['peak_rss_train'] - r['base_rss']) / target:.2f} | {gpu} |")


GRID_HEADER = ("| corpus (N x V) | batch | docs/s | tokens/s | epoch s | steps timed/epoch | validation s | "
               "peak RSS (train) | peak RSS (+ validation) | base RSS | CSR counts | model | peak / (CSR + model) | "
               "(peak - base) / (CSR + model) | peak GPU |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
               "---:|---:|---:|")


def grid_markdown(payload: dict[str, Any]) -> str:
    rows = [r for r in payload.get("grid", []) if "error" not in r]
    lines = [GRID_HEADER] + [grid_row(r) for r in rows]
    for r in payload.get("grid", []):
        if "error" in r:
            lines.append(f"\n{r['name']}, batch {r['batch_size']}: failed ({r['error']})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- LDA part
class StopFitting(Exception):
    """Raised by the tracker to end our model's fit once every target is reached or time is up."""


class PerplexityTracker:
    """The fit callback: test completion perplexity after every epoch, timed out of the fit's clock."""

    def __init__(self, estimator: Any, observed: Any, heldout: Any, targets: dict[str, float], max_seconds: float,
                 stop_when_reached: bool) -> None:
        self.estimator, self.observed, self.heldout = estimator, observed, heldout
        self.targets, self.max_seconds, self.stop_when_reached = targets, max_seconds, stop_when_reached
        self.history: list[dict[str, Any]] = []
        self.reached: dict[str, dict[str, Any]] = {}
        self.paused = 0.0
        self.started = time.perf_counter()
        self.stopped_by = "training ended (epoch budget or early stopping)"

    def __call__(self, record: dict[str, Any]) -> None:
        from deepgbn_text.evaluate import completion_perplexity
        from deepgbn_text.training.trainer import GBNWordDistribution

        now = time.perf_counter()
        wall = now - self.started - self.paused
        scorer = GBNWordDistribution(self.estimator.module_, self.estimator.device_)
        test = completion_perplexity(scorer, self.observed, self.heldout)
        self.history.append({"epoch": record["epoch"], "wall_seconds": round(wall, 3), "test_perplexity": test,
                             "val_perplexity": record.get("val_perplexity"), "epoch_seconds": record["seconds"]})
        for name, target in self.targets.items():
            if name not in self.reached and test <= target:
                self.reached[name] = {"epoch": record["epoch"], "wall_seconds": wall, "test_perplexity": test}
        self.paused += time.perf_counter() - now
        if self.stop_when_reached and len(self.reached) == len(self.targets):
            self.stopped_by = "every LDA perplexity reached"
            raise StopFitting
        if wall > self.max_seconds:
            self.stopped_by = f"--model-max-seconds {self.max_seconds:g} reached"
            raise StopFitting


def lda_data(args: argparse.Namespace, dataset: str):  # type: ignore[no-untyped-def]
    from bench_data import load_20news, load_imdb

    max_docs = 600 if args.quick else None
    if dataset == "20news":
        return load_20news(args.corpora / "20news", 2000, max_docs)
    if dataset == "imdb":
        return load_imdb(args.corpora, args.imdb_vocab, max_docs=max_docs, cache=CACHE)
    sys.exit(f"--lda: unknown data set {dataset!r}; choose 20news or imdb")


def run_lda(args: argparse.Namespace, payload: dict[str, Any], out: Path) -> None:
    import scipy.sparse as sp
    import torch
    from threadpoolctl import threadpool_info

    from deepgbn_text.baselines import GensimLDA, TomotopyLDA
    from deepgbn_text.estimator import default_topics
    from deepgbn_text.evaluate import completion_perplexity, completion_split

    threads = args.threads or torch.get_num_threads()
    lda: dict[str, Any] = payload.setdefault("lda", {})
    topics = default_topics(args.layers)
    for dataset in [d.strip() for d in args.lda.split(",") if d.strip() and d.strip() != "none"]:
        print(f"== time to perplexity: {dataset}", flush=True)
        train, test = lda_data(args, dataset)
        test = sp.csr_matrix(test)
        test = test[np.diff(test.indptr) > 0]
        observed, heldout = completion_split(test, 0.2, seed=0)
        entry: dict[str, Any] = {
            "data": {"n_train_docs": train.n_docs, "n_train_tokens": train.n_tokens, "vocab_size": train.n_words,
                     "n_test_docs": int(test.shape[0]), "n_heldout_tokens": int(heldout.sum())},
            "protocol": "document completion: 20% of each test document's tokens held out (seed 0), "
                        "perplexity of the held-out tokens given theta inferred from the other 80%",
            "lda": {}, "load_average_before": load_average(),
        }
        lda[dataset] = entry
        iterations = per_dataset(parse_per_dataset(args.tomotopy_iterations), dataset)
        passes = per_dataset(parse_per_dataset(args.gensim_passes), dataset)
        tools = {
            "tomotopy": lambda: TomotopyLDA(n_topics=topics[0], seed=args.seed, iterations=iterations,
                                            workers=threads),
            "gensim": lambda: GensimLDA(n_topics=topics[0], seed=args.seed, passes=passes),
        }
        notes = {"tomotopy": f"collapsed Gibbs LDA, {iterations} iterations, alpha 0.1, eta 0.01, "
                             f"{threads} workers; test theta by infer() (100 iterations)",
                 "gensim": f"LdaModel (online VB, single process), {passes} passes, 100 iterations, chunksize 2000"}
        for name in [t.strip() for t in args.lda_models.split(",") if t.strip()]:
            print(f"   {name}: fit", flush=True)
            model = tools[name]()
            started = time.perf_counter()
            try:
                model.fit(train)
            except Exception as exc:  # a missing package: note it and go on
                entry["lda"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"   {name}: failed ({exc})", flush=True)
                continue
            fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            perplexity = completion_perplexity(model, observed, heldout)
            entry["lda"][name] = {"fit_seconds": fit_seconds, "perplexity": perplexity, "settings": notes[name],
                                  "score_seconds": time.perf_counter() - started,
                                  "threads": threads if name == "tomotopy" else 1}
            print(f"   {name}: perplexity {perplexity:.1f} after {fit_seconds:.1f} s", flush=True)
            write_results(out, payload)
        entry["blas"] = [{k: i.get(k) for k in ("internal_api", "num_threads")} for i in threadpool_info()]
        targets = {name: r["perplexity"] for name, r in entry["lda"].items() if "perplexity" in r}
        entry["ggbn"], entry["ratios"] = {}, {}
        for spec in args.ours.split(","):
            label, ours = fit_ours(args, spec, topics, threads, train, observed, heldout, targets)
            entry["ggbn"][label] = ours
            entry["ratios"][label] = {name: (hit["wall_seconds"] / entry["lda"][name]["fit_seconds"])
                                      if (hit := ours["reached"].get(name)) else None for name in targets}
            write_results(out, payload)
        entry["load_average_after"] = load_average()
        print(lda_markdown({dataset: entry}), flush=True)
        write_results(out, payload)


def parse_ours(spec: str) -> tuple[str, int, float, int, float]:
    """``posterior:batch:lr[:lr_decay_patience[:ema_decay]]`` (e.g. ``gamma:128:6e-3:5:0.995``) as its parts."""
    try:
        posterior, batch, lr, *rest = spec.strip().split(":")
        if len(rest) > 2:
            raise ValueError(spec)
        return (posterior, int(batch), float(lr), int(rest[0]) if rest else 0,
                float(rest[1]) if len(rest) > 1 else 0.0)
    except ValueError:
        sys.exit("--ours: expected posterior:batch:lr[:lr_decay_patience[:ema_decay]] such as gamma:128:6e-3:5:0.995, "
                 f"got {spec!r}")


def fit_ours(args: argparse.Namespace, spec: str, topics: list[int], threads: int, train: Any, observed: Any,
             heldout: Any, targets: dict[str, float]) -> tuple[str, dict[str, Any]]:
    """Fit one configuration of our model, scoring the test split after every epoch."""
    from deepgbn_text import GeneralizedGBN

    posterior, batch_size, lr, decay, ema = parse_ours(spec)
    label = (f"{posterior}, batch {batch_size}, lr {lr:g}" + (f", lr halved every {decay} stale epochs" if decay else "")
             + (f", parameter average (EMA {ema:g})" if ema else "")
             + (f", KL warm-up {args.kl_warmup:g} of the epochs" if args.kl_warmup is not None else ""))
    warmup = {} if args.kl_warmup is None else {"kl_warmup": args.kl_warmup}
    estimator = GeneralizedGBN(n_topics=topics, n_layers=len(topics), hidden=args.hidden, posterior=posterior,
                               epochs=2 if args.quick else args.epochs, batch_size=batch_size, lr=lr,
                               lr_decay_patience=decay, ema_decay=ema, seed=args.seed, device=args.device, **warmup)
    tracker = PerplexityTracker(estimator, observed, heldout, targets, args.model_max_seconds,
                                not args.no_stop_when_reached)
    print(f"   ggbn ({label}): fit (targets {', '.join(f'{k} {v:.1f}' for k, v in targets.items())})", flush=True)
    tracker.started = time.perf_counter()
    try:
        estimator.fit(train, callback=tracker)
    except StopFitting:
        pass
    return label, {
        "settings": f"GeneralizedGBN {'-'.join(map(str, topics))}, hidden {args.hidden}, {label}, up to "
                    f"{estimator.epochs} epochs, {threads} torch threads, {estimator.device_}; "
                    "test theta = encoder mean",
        "history": tracker.history, "stopped_by": tracker.stopped_by,
        "best": min(tracker.history, key=lambda h: h["test_perplexity"]),
        "wall_seconds": tracker.history[-1]["wall_seconds"], "reached": tracker.reached,
    }


def lda_markdown(lda: dict[str, Any]) -> str:
    lines = ["| data | LDA | LDA threads | LDA fit s | LDA perplexity | ours | ours: first epoch <= it | "
             "ours: s to reach | ratio ours / LDA | ours: best perplexity (epoch, s) |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for dataset, entry in lda.items():
        for name, r in entry["lda"].items():
            if "error" in r:
                lines.append(f"| {dataset} | {name} | - | - | failed: {r['error']} | | | | | |")
                continue
            for label, ours in entry.get("ggbn", {}).items():
                hit, best, ratio = ours["reached"].get(name), ours["best"], entry["ratios"][label].get(name)
                lines.append(
                    f"| {dataset} | {name} | {r['threads']} | {r['fit_seconds']:.1f} | {r['perplexity']:.1f} | "
                    f"{label} | {hit['epoch'] if hit else 'not reached'} | "
                    f"{fmt_num(hit['wall_seconds'], 1) if hit else '-'} | {f'{ratio:.2f}' if ratio is not None else '-'} | "
                    f"{best['test_perplexity']:.1f} ({best['epoch']}, {best['wall_seconds']:.0f} s) |")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--parts", default="grid,lda", help="comma-separated: grid, lda")
    parser.add_argument("--sizes", default="all", help="'all' (N in 10k,100k,1M x V in 2k,20k,50k), 'none', or e.g. 10kx2k,1Mx50k")
    parser.add_argument("--batch-size", default="1024", help="comma-separated batch sizes for the grid")
    parser.add_argument("--max-steps", default="300", help="steps timed per configuration (one, or one per batch size)")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--layers", type=int, default=3, help="widths 128, 64, 32, ... (the estimator's defaults)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--link", default="nonlinear")
    parser.add_argument("--threads", type=int, default=None, help="torch threads and tomotopy workers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--no-validation", action="store_true", help="do not time the per-epoch validation")
    parser.add_argument("--torch-compile", action="store_true",
                        help="train through torch.compile (warmed up on the timed rows: compiling is in warmup_seconds)")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="on a GPU, train without CUDA graphs (each step's kernels launched one by one)")
    parser.add_argument("--host-data", action="store_true",
                        help="on a GPU, gather batches on the host as on a CPU instead of from a copy of the corpus there")
    parser.add_argument("--max-val-docs", type=int, default=None,
                        help="time validation on at most this many documents and scale up (marked extrapolated)")
    parser.add_argument("--corpus", action="append", help="NAME=FOLDER: a prepared corpus folder to add to the grid")
    parser.add_argument("--no-real", dest="real", action="store_false", help="leave 20NG and IMDB out of the grid")
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--imdb-vocab", type=int, default=5000)
    parser.add_argument("--gen-workers", type=int, default=None, help="processes generating synthetic corpora")
    parser.add_argument("--config-timeout", type=float, default=1800)
    parser.add_argument("--lda", default="20news,imdb", help="data sets for time-to-perplexity, or none")
    parser.add_argument("--lda-models", default="tomotopy,gensim")
    parser.add_argument("--tomotopy-iterations", default="20news=1000,imdb=300")
    parser.add_argument("--gensim-passes", default="20news=10,imdb=5")
    parser.add_argument("--epochs", type=int, default=300, help="our model's epoch budget in the lda part")
    parser.add_argument("--ours", default="weibull:64:3e-3",
                        help="our configurations in the lda part, comma-separated posterior:batch:lr[:lr_decay_patience[:ema_decay]]")
    parser.add_argument("--kl-warmup", type=float, default=None,
                        help="our model's KL warm-up as a share of its epoch budget (--epochs) in the lda part "
                             "(default: the estimator's)")
    parser.add_argument("--model-max-seconds", type=float, default=600, help="stop our model's fit after this")
    parser.add_argument("--no-stop-when-reached", action="store_true",
                        help="keep fitting after every LDA perplexity is reached")
    parser.add_argument("--quick", action="store_true", help="tiny grid and data: a smoke run")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, nargs="?", const=ROOT / "docs" / "img" / "speed-growth.png", default=None,
                        help="also draw the growth plot (default docs/img/speed-growth.png)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    sys.path.insert(0, str(HERE))
    if args.quick:
        if args.sizes == "all":
            args.sizes = QUICK_SIZES
        args.max_steps, args.warmup_steps = "5", 1
        args.batch_size = "256" if args.batch_size == "1024" else args.batch_size
        args.tomotopy_iterations, args.gensim_passes, args.model_max_seconds = "20", "1", 60.0
        if args.lda == "20news,imdb":
            args.lda = "20news"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.json or RESULTS / f"speed-{args.device.split(':')[0]}{'-quick' if args.quick else ''}.json"
    parts = {p.strip() for p in args.parts.split(",")}
    payload: dict[str, Any] = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                               "args": {k: str(v) for k, v in vars(args).items()},
                               "machine": machine(args.device, args.threads), "load_average_start": load_average(),
                               "library_start": library_fingerprint(),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    started = time.perf_counter()
    if "grid" in parts:
        run_grid(args, payload, out)
    if "lda" in parts:
        run_lda(args, payload, out)
    payload["wall_seconds"] = round(time.perf_counter() - started, 1)
    payload["load_average_end"] = load_average()
    payload["forbidden_imports_parent"] = forbidden_imports()
    payload["library_end"] = library_fingerprint()
    if payload["library_end"] != payload["library_start"]:
        print("note: deepgbn_text changed while this benchmark ran (see library_start / library_end)")
    write_results(out, payload)
    markdown = [f"machine: {payload['machine'].get('gpu') or payload['machine']['platform']}, "
                f"{payload['machine']['torch_threads']} torch threads, load average {payload['load_average_start']} "
                f"at the start, {payload['load_average_end']} at the end; {payload['wall_seconds']:.0f} s in all", ""]
    if payload.get("grid"):
        markdown += ["## Throughput and memory", "", grid_markdown(payload), ""]
    if payload.get("lda"):
        markdown += ["## Time to LDA's perplexity", "", lda_markdown(payload["lda"]), ""]
    text = "\n".join(markdown)
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(text)
    if args.plot and payload.get("grid"):
        from plot_speed import plot

        plot([out], args.plot)
        print(f"wrote {args.plot}")
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
