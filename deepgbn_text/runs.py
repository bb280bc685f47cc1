"""Run folders: everything a fit produces, written atomically into one folder."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .storage.atomic import atomic_dir
from .training.checkpoint import CHECKPOINT_FILE
from .estimator import CONFIG_FILE, GeneralizedGBN

TOPICS_JSON = "topics.json"
TOPICS_MD = "topics.md"
METRICS_JSON = "metrics.json"


def default_run_dir(source: str | os.PathLike[str], root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<input stem>-<YYYYmmdd-HHMMSS>`` (the stem without .txt/.gz/.npz suffixes)."""
    name = Path(source).name
    for suffix in (".gz", ".txt", ".csv", ".jsonl", ".npz", ".mtx"):
        name = name.removesuffix(suffix)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{name or 'corpus'}-{stamp}"


def summarise(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The best validation epoch (highest held-out ELBO) and the totals of a training curve."""
    summary: dict[str, Any] = {"epochs_run": len(history), "fit_seconds": sum(r["seconds"] for r in history)}
    scored = [r for r in history if "val_elbo_per_token" in r]
    if scored:
        best = max(scored, key=lambda r: r["val_elbo_per_token"])
        summary |= {"best_epoch": best["epoch"], "val_elbo_per_token": best["val_elbo_per_token"],
                    "val_perplexity": best["val_perplexity"]}
    return summary


def write_run(
    model: GeneralizedGBN,
    out: str | os.PathLike[str],
    extra_config: dict[str, Any] | None = None,
    top_n: int = 10,
    min_edge: float = 0.05,
    all_topics: bool = False,
) -> Path:
    """Write model.safetensors, config.json, topics.json, topics.md and metrics.json into ``out``
    (replacing it as a whole; a training checkpoint already in ``out`` is kept).

    topics.json holds every topic; topics.md hides the dead ones unless ``all_topics``. metrics.json holds
    the training summary and history, the bottom pretraining's summary, the Gibbs start's seconds (null
    without one) and per layer its near-duplicate and dead topics (``layers``)."""
    from .evaluate.diagnostics import layer_health

    tree = model.tree(top_n=top_n, min_edge=min_edge)
    with atomic_dir(out) as tmp:
        keep_checkpoint(Path(out) / CHECKPOINT_FILE, tmp / CHECKPOINT_FILE)
        model.write_into(tmp)
        if extra_config:
            config = json.loads((tmp / CONFIG_FILE).read_text(encoding="utf-8"))
            config.update(extra_config)
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
        (tmp / TOPICS_JSON).write_text(json.dumps(tree.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
        (tmp / TOPICS_MD).write_text((tree if all_topics else tree.without_dead()).to_markdown(top_n), encoding="utf-8")
        metrics = {"summary": summarise(model.history_), "history": model.history_,
                   "bottom_pretraining": summarise(getattr(model, "pretrain_history_", [])),
                   "gibbs_start_seconds": getattr(model, "gibbs_seconds_", None),
                   "layers": [h.to_dict() for h in layer_health(model)]}
        (tmp / METRICS_JSON).write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    return Path(out)


def keep_checkpoint(source: Path, target: Path) -> None:
    """Hard-link (or copy, across file systems) a checkpoint into the folder that will replace its own."""
    if not source.is_file():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
