"""Training beside CPU-bound neighbours: seconds per epoch against torch threads and OpenMP's wait policy.

Issue 15, item 4 ("Sharing the machine"): a fit that took 1.9 s an epoch alone took 34 s an epoch beside
three single-threaded processes of another program on 2 cores. This script measures how a short fit of
the default ``GeneralizedGBN`` (3 layers, 128-64-32, batch 64, validation every epoch) on the bundled
sample (``deepgbn_text.corpora.load("20news-sample")``, 2,000 documents) slows down beside N busy
neighbours, for several settings of the torch thread count and of OpenMP's wait policy.

    python benchmarks/shared_cpu.py --json benchmarks/results/shared_cpu.json   # about 7 minutes on 2 cores
    python benchmarks/shared_cpu.py --quick                                      # smoke run (about a minute)
    python benchmarks/shared_cpu.py --table benchmarks/results/shared_cpu.json  # the table of a saved run

Settings (``--settings``, comma-separated): ``T:POLICY`` runs T torch threads with ``OMP_WAIT_POLICY``
unset (``unset``), ``PASSIVE`` or ``ACTIVE``, or ``spin=K`` (policy unset, ``GOMP_SPINCOUNT=K``);
``default`` is whatever ``import deepgbn_text`` chooses with none of these variables set (the library's
default, ``deepgbn_text/threads.py``). Every measurement runs in a fresh process, so the variables are in
place before libgomp loads (it reads them once, when ``import torch`` loads it); except for ``default``
that process imports torch before ``deepgbn_text``, so the library's own choice cannot override the
setting under test.

Neighbours (``--neighbours``, default 0,1,3): N processes each running a plain Python busy loop
(single-threaded, ended after --neighbour-seconds at the latest), started before the fit process and
killed after it. By default they run in a session of their own, as a separate program would (started by
one leader with ``start_new_session``); ``--same-session`` starts them as the benchmark's own children.
The difference matters where the kernel's autogroup scheduling is on (``/proc/sys/kernel/
sched_autogroup_enabled``, and the processes in the root CPU cgroup): the scheduler then shares the CPU
fairly between sessions first, and only then between the threads of a session.

The fit runs on the sample's first --docs documents (1,000: 900 to train, 15 steps of 64, and 100 to
validate) for --epochs epochs, stopping after the epoch that passes --max-seconds, so that a setting that
is 50x slower still ends in seconds. "s / epoch" is the mean of the epochs after the first (the first
also allocates and warms up; it is used alone when it is the only one), as recorded by the training loop
(training steps and the per-epoch validation). Each (setting, N) is measured
--repeats times; the settings and the neighbour counts run in alternating order (forward, then reversed),
so that load from other programs on the machine falls on all of them alike. Before each measurement the
JSON records ``os.getloadavg()``, and for the measurement the CPU used by processes other than the fit
and its neighbours (``other_cores``: busy time in ``/proc/stat`` minus the fit's and the neighbours' own
CPU time, over the fit's wall time): a quiet machine shows about 0. Before each measurement alone the
script waits up to --quiet-wait seconds (15) for the machine to be idle, so that the baseline is a quiet
machine where one comes along; the baseline of a setting is the median of its quiet runs alone (under
0.2 cores of other load), or of all its runs alone, marked "never quiet", when none was quiet.

Definitions (in the table):

- slowdown: s / epoch beside N neighbours over the same setting's baseline alone (N = 0);
- fair slowdown: the slowdown a fair share of the CPU allows. Alone, the fit uses up to c0 = min(t, n)
  cores (t threads, n cores). Beside N busy single-threaded neighbours a scheduler fair to every thread
  gives it c = t * n / (N + t) cores when N + t > n (else all it wants), so the fair slowdown c0 / c is
  max(1, (N + t) / n) for t <= n: on 2 cores 1.5x and 2.5x for 2 threads beside 1 and 3 neighbours,
  1x and 2x for 1 thread. In each run N also counts the other programs' measured load (other_cores).
  A fit that does not keep its t threads busy alone loses less than this. A setting is over its fair
  share (marked **over**) when the median over its runs of slowdown / fair slowdown exceeds 1.1. With autogroup the
  kernel shares first between sessions (the fit's, the neighbours', other users'), so the real share
  differs; the definition is a yardstick, not the scheduler's rule;
- vs best alone: s / epoch over the fastest setting's s / epoch alone (what a user sees against an idle
  machine).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CACHE = ROOT / "build" / "shared_cpu"
OMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
QUIET = 0.2
"""A run is on a quiet machine when other programs kept fewer cores than this busy during it."""
NOISE = 1.1
"""A setting is over its fair share when its median slowdown over the fair one exceeds this (10% noise)."""
DEFAULT_SETTINGS = "2:unset,2:PASSIVE,2:ACTIVE,2:spin=1000,1:unset,default"

BUSY_LOOP = """
import os, sys, time
n, seconds = int(sys.argv[1]), float(sys.argv[2])
for _ in range(n - 1):  # the leader forks the others: one session, one process group
    if os.fork() == 0:
        break
end = time.monotonic() + seconds
x = 0
while time.monotonic() < end:
    for _ in range(10_000):
        x += 1
"""


# ------------------------------------------------------------------------------------------- helpers
def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def busy_jiffies() -> int:
    """CPU time spent busy by the whole machine since boot, in clock ticks (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle  # guest time is already counted in user


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
        if int(fields[2]) == pgid:  # field 5: pgrp
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / tick


def autogroup_on() -> bool:
    """Whether the scheduler shares the CPU between sessions first (autogroup, root CPU cgroup)."""
    try:
        if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() != "1":
            return False
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if ("cpu" in controllers.split(",") or controllers == "") and path != "/":
                return False
        return True
    except OSError:
        return False


def fair_slowdown(threads: int, neighbours: float, cores: int) -> float:
    """c0 / c: the cores the fit uses alone, c0 = min(t, n), over the cores c a scheduler fair to every
    thread gives it beside the neighbours: (N + t) / n when N + t > n and t <= n, else 1."""
    alone = min(threads, cores)
    share = threads if neighbours + threads <= cores else threads * cores / (neighbours + threads)
    return max(1.0, alone / share)


def parse_setting(text: str) -> dict[str, Any]:
    text = text.strip()
    if text == "default":
        return {"label": "library default", "name": text, "threads": None, "env": {}, "library_first": True}
    threads, _, policy = text.partition(":")
    env: dict[str, str] = {}
    if policy.startswith("spin="):
        env["GOMP_SPINCOUNT"] = policy[len("spin="):]
        label = f"{threads}, GOMP_SPINCOUNT={env['GOMP_SPINCOUNT']}"
    elif policy in ("PASSIVE", "ACTIVE"):
        env["OMP_WAIT_POLICY"] = policy
        label = f"{threads}, OMP_WAIT_POLICY={policy}"
    elif policy in ("unset", ""):
        label = f"{threads}, policy unset"
    else:
        sys.exit(f"--settings: unknown policy in {text!r} (unset, PASSIVE, ACTIVE or spin=K)")
    return {"label": label, "name": text, "threads": int(threads), "env": env, "library_first": False}


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "torch": md.version("torch"),
            "autogroup": autogroup_on()}


# ---------------------------------------------------------------------------------------- the child
class Stop(Exception):
    pass


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One fit in this fresh process; the environment was set by the parent."""
    started = time.perf_counter()
    if spec["library_first"]:
        import deepgbn_text  # noqa: F401  # the library's own choice of policy and threads
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    from deepgbn_text import Corpus, GeneralizedGBN

    corpus = Corpus.load(spec["corpus"])
    if spec["docs"] < corpus.n_docs:
        corpus = corpus.subset(range(spec["docs"]))
    imported = time.perf_counter() - started
    records: list[dict[str, Any]] = []
    fit_started = time.perf_counter()

    def callback(record: dict[str, Any]) -> None:
        records.append(record)
        if time.perf_counter() - fit_started > spec["max_seconds"]:
            raise Stop

    cpu = os.times()
    try:
        GeneralizedGBN(epochs=spec["epochs"], batch_size=spec["batch_size"], patience=spec["epochs"],
                       seed=spec["seed"], device="cpu").fit(corpus, callback=callback)
    except Stop:
        pass
    wall = time.perf_counter() - fit_started
    after = os.times()
    seconds = [r["seconds"] for r in records]
    return {"epoch_seconds": seconds, "epoch_mean": statistics.mean(seconds[1:] or seconds),
            "fit_wall_seconds": wall, "fit_cpu_seconds": (after.user - cpu.user) + (after.system - cpu.system),
            "startup_seconds": imported, "torch_threads": torch.get_num_threads(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
            "last_val_perplexity": records[-1].get("val_perplexity")}


# --------------------------------------------------------------------------------------- the parent
def start_neighbours(count: int, seconds: float, own_session: bool) -> list[subprocess.Popen[bytes]]:
    if count == 0:
        return []
    if own_session:  # one leader in a new session forks the rest: a separate program
        return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(count), str(seconds)],
                                 start_new_session=True)]
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, "1", str(seconds)], process_group=0)
            for _ in range(count)]


def stop_neighbours(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:  # each is the leader of its own process group (own_session: with its forks)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def other_load(seconds: float = 1.0) -> float:
    """Cores kept busy by every process on the machine over the next ``seconds`` (this one sleeps)."""
    busy = busy_jiffies()
    time.sleep(seconds)
    return (busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK") / seconds


def wait_for_quiet(limit: float, threshold: float = 0.2) -> float:
    """Wait up to ``limit`` seconds for the machine to be idle (under ``threshold`` busy cores); return the
    seconds waited (0 when it was idle at once)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit and other_load() > threshold:
        pass
    return time.perf_counter() - started


def measure(setting: dict[str, Any], neighbours: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARIABLES}
    env.update(setting["env"])
    spec = {"corpus": str(args.corpus_folder), "threads": setting["threads"],
            "library_first": setting["library_first"], "docs": args.docs, "epochs": args.epochs,
            "batch_size": args.batch_size, "seed": args.seed, "max_seconds": args.max_seconds}
    waited = wait_for_quiet(args.quiet_wait) if args.quiet_wait and not neighbours else 0.0
    entry: dict[str, Any] = {"setting": setting["name"], "label": setting["label"], "neighbours": neighbours,
                             "waited_for_quiet_seconds": waited, "load_average_before": load_average()}
    procs = start_neighbours(neighbours, args.neighbour_seconds, not args.same_session)
    try:
        time.sleep(0.5 if procs else 0.0)  # the neighbours are running before the fit starts
        neighbour_cpu = sum(group_cpu_seconds(p.pid) for p in procs)
        busy, wall = busy_jiffies(), time.perf_counter()
        before = os.times()
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True,
                              text=True, timeout=args.max_seconds * 4 + 120)
        after = os.times()
        wall = time.perf_counter() - wall
        busy = (busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK")
        neighbour_cpu = sum(group_cpu_seconds(p.pid) for p in procs) - neighbour_cpu
    finally:
        stop_neighbours(procs)
    if done.returncode:
        raise SystemExit(f"child failed ({setting['label']}, {neighbours} neighbours):\n{done.stderr[-3000:]}")
    entry.update(json.loads(done.stdout.splitlines()[-1]))
    child_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    entry.update({"process_wall_seconds": wall, "process_cpu_seconds": child_cpu,
                  "neighbour_cpu_seconds": neighbour_cpu,
                  "other_cores": max(0.0, (busy - child_cpu - neighbour_cpu) / wall),
                  "fit_cpu_percent": 100 * entry["fit_cpu_seconds"] / entry["fit_wall_seconds"]})
    return entry


def summarise(settings: list[dict[str, Any]], neighbour_counts: list[int], runs: list[dict[str, Any]],
              cores: int) -> list[dict[str, Any]]:
    """One row per (setting, N): medians over the repeats. The baseline of a setting is its median alone
    on a quiet machine (runs with other_cores < QUIET), or over all its runs alone when none was quiet
    (``baseline_quiet`` False). Each run's slowdown is over that baseline and its fair slowdown counts the
    other programs' measured load as extra neighbours: max(1, (N + other_cores + t) / n) for t <= n."""
    table = []
    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        by_key.setdefault((run["setting"], run["neighbours"]), []).append(run)
    baseline: dict[str, tuple[float, bool]] = {}
    for setting in settings:
        alone = by_key.get((setting["name"], 0), [])
        quiet = [r["epoch_mean"] for r in alone if r["other_cores"] < QUIET]
        if alone:
            baseline[setting["name"]] = (statistics.median(quiet or [r["epoch_mean"] for r in alone]), bool(quiet))
    best_alone = min(b for b, _ in baseline.values()) if baseline else None
    for setting in settings:
        for n in neighbour_counts:
            found = by_key.get((setting["name"], n), [])
            if not found:
                continue
            threads = found[0]["torch_threads"]
            row = {"setting": setting["name"], "label": setting["label"], "neighbours": n, "threads": threads,
                   "seconds_per_epoch": statistics.median(r["epoch_mean"] for r in found),
                   "runs": [r["epoch_mean"] for r in found],
                   "fit_cpu_percent": statistics.median(r["fit_cpu_percent"] for r in found),
                   "other_cores": [round(r["other_cores"], 2) for r in found]}
            if setting["name"] in baseline:
                base, row["baseline_quiet"] = baseline[setting["name"]]
                row["baseline_seconds"] = base
                slow = [r["epoch_mean"] / base for r in found]
                fair = [fair_slowdown(threads, n + r["other_cores"], cores) for r in found]
                row["slowdown"], row["fair_slowdown"] = statistics.median(slow), statistics.median(fair)
                row["over_fair_share"] = statistics.median(s / f for s, f in zip(slow, fair)) > NOISE
            if best_alone:
                row["vs_best_alone"] = row["seconds_per_epoch"] / best_alone
            table.append(row)
    return table


def markdown(table: list[dict[str, Any]], neighbour_counts: list[int]) -> str:
    head = "| torch threads, OpenMP wait | " + " | ".join(
        "alone, quiet machine: s / epoch" if n == 0
        else f"{n} neighbour{'s' if n > 1 else ''}: s / epoch (slowdown; fair)"
        for n in neighbour_counts) + " | fit's CPU % (alone; beside " + ", ".join(
        str(n) for n in neighbour_counts if n) + ") |"
    lines = [head, "|---|" + "---:|" * len(neighbour_counts) + "---|"]
    settings = list(dict.fromkeys(r["setting"] for r in table))
    for name in settings:
        rows = {r["neighbours"]: r for r in table if r["setting"] == name}
        first = next(iter(rows.values()))
        label = first["label"] + (f" ({first['threads']} threads)" if first["setting"] == "default" else "")
        cells = []
        for n in neighbour_counts:
            r = rows.get(n)
            if r is None:
                cells.append("-")
            elif n == 0:
                quiet = "" if r.get("baseline_quiet", True) else " (never quiet)"
                cells.append(f"{r['baseline_seconds']:.2f}{quiet}" if "baseline_seconds" in r else "-")
            elif "slowdown" in r:
                mark = " **over**" if r["over_fair_share"] else ""
                cells.append(f"{r['seconds_per_epoch']:.2f} ({r['slowdown']:.1f}x{mark}; {r['fair_slowdown']:.1f}x)")
            else:
                cells.append(f"{r['seconds_per_epoch']:.2f}")
        cpu = ", ".join(f"{rows[n]['fit_cpu_percent']:.0f}" for n in neighbour_counts if n in rows)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {cpu} |")
    return "\n".join(lines)


def prepare_corpus(folder: Path) -> Path:
    from deepgbn_text.corpora import load

    if not (folder / "meta.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        load("20news-sample").save(folder)
    return folder


def write_results(path: Path, payload: dict[str, Any]) -> None:
    from deepgbn_text.storage.atomic import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=DEFAULT_SETTINGS,
                        help="comma-separated T:POLICY (POLICY: unset, PASSIVE, ACTIVE, spin=K) or 'default'")
    parser.add_argument("--neighbours", default="0,1,3", help="numbers of busy neighbour processes")
    parser.add_argument("--same-session", action="store_true",
                        help="start the neighbours in this session instead of a session of their own")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each (setting, neighbours)")
    parser.add_argument("--docs", type=int, default=1000, help="fit on the sample's first DOCS documents")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=6.0,
                        help="stop a fit after the epoch that passes this many seconds")
    parser.add_argument("--neighbour-seconds", type=float, default=120.0,
                        help="a neighbour ends its loop after this many seconds at the latest")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus-folder", type=Path, default=CACHE / "20news-sample",
                        help="the sample as a corpus folder (made from the bundled corpus when missing)")
    parser.add_argument("--quiet-wait", type=float, default=15.0,
                        help="before each measurement alone wait up to this many seconds for the machine to be idle")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 settings, 0 and 1 neighbour, once")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--table", type=Path, help="print the table of a JSON written before (and update it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.table:
        payload = json.loads(args.table.read_text())
        saved = payload["args"]
        neighbour_counts = [int(n) for n in saved["neighbours"].split(",")]
        payload["table"] = summarise([parse_setting(s) for s in saved["settings"].split(",") if s.strip()],
                                     neighbour_counts, payload["runs"], payload["cores"])
        write_results(args.table, payload)
        print(markdown(payload["table"], neighbour_counts))
        return
    if args.quick:
        args.settings, args.neighbours, args.repeats, args.epochs = "2:unset,default", "0,1", 1, 2
    settings = [parse_setting(s) for s in args.settings.split(",") if s.strip()]
    neighbour_counts = [int(n) for n in args.neighbours.split(",")]
    out = args.json or RESULTS / f"shared_cpu{'-quick' if args.quick else ''}.json"
    prepare_corpus(args.corpus_folder)
    cores = len(os.sched_getaffinity(0))
    payload: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine(), "cores": cores,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average_start": load_average(), "runs": [],
    }
    started = time.perf_counter()
    for repeat in range(args.repeats):
        order = 1 if repeat % 2 == 0 else -1
        for n in neighbour_counts[::order]:
            for setting in settings[::order]:
                entry = measure(setting, n, args)
                entry["repeat"] = repeat
                payload["runs"].append(entry)
                print(f"[{time.perf_counter() - started:5.0f} s] {setting['label']:<32} {n} neighbours: "
                      f"{entry['epoch_mean']:6.2f} s / epoch, fit CPU {entry['fit_cpu_percent']:3.0f}%, "
                      f"other load {entry['other_cores']:.2f} cores, load average {entry['load_average_before']}",
                      flush=True)
                write_results(out, payload)
    payload["table"] = summarise(settings, neighbour_counts, payload["runs"], cores)
    payload["wall_seconds"] = round(time.perf_counter() - started, 1)
    payload["load_average_end"] = load_average()
    others = [r["other_cores"] for r in payload["runs"]]
    payload["other_cores_median"], payload["other_cores_max"] = statistics.median(others), max(others)
    write_results(out, payload)
    print()
    print(f"machine: {payload['machine']['cpu']}, {cores} cores, torch {payload['machine']['torch']}; "
          f"neighbours in {'the same session' if args.same_session else 'a session of their own'} (autogroup "
          f"{'on' if payload['machine']['autogroup'] else 'off'}); load average {payload['load_average_start']} "
          "at the start, "
          f"{payload['load_average_end']} at the end; CPU of other programs during the fits: median "
          f"{payload['other_cores_median']:.2f}, max {payload['other_cores_max']:.2f} cores; "
          f"{payload['wall_seconds']:.0f} s in all")
    print()
    print(markdown(payload["table"], neighbour_counts))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
