"""Where two same-seed fits part: two trainers built alike step through the same batches with the same
random state, and the first step at which their ELBO terms, gradients or parameters differ is reported,
with the tensors that differ. A diagnosis for the GPU machine, not a test.

    python benchmarks/determinism_probe.py --device cuda [--no-cuda-graphs] [--deterministic-algorithms]

The corpus is the one of ``tests/test_cuda.py::test_same_seed_same_model_at_scale_on_cuda`` (5,000 x 2,000,
batch 1,024), whose two fits differed at the 1e-9 level on an H100 with and without CUDA graphs, while
every operator of the step was deterministic on its own. ``--deterministic-algorithms`` turns on
``torch.use_deterministic_algorithms`` (set ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` for cuBLAS).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import synthetic_counts  # noqa: E402

from deepgbn_text.estimator import default_topics, resolve_device  # noqa: E402
from deepgbn_text.model.gbn import GBN  # noqa: E402
from deepgbn_text.training.trainer import TrainConfig, Trainer  # noqa: E402


def differing(named_a: dict[str, torch.Tensor], named_b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Name -> largest absolute difference, for the tensors that are not bit-identical."""
    return {name: float((a - named_b[name]).abs().max()) for name, a in named_a.items()
            if not torch.equal(a, named_b[name])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false")
    parser.add_argument("--deterministic-algorithms", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.use_deterministic_algorithms(args.deterministic_algorithms)
    device = resolve_device(args.device)
    counts = synthetic_counts(n_docs=5000, n_words=2000, n_topics=20, seed=1)
    torch.manual_seed(0)
    module = GBN(counts.shape[1], default_topics(3), 256).to(device)
    config = TrainConfig(epochs=1, batch_size=args.batch_size, cuda_graphs=args.cuda_graphs)
    rows = np.random.default_rng(0).permutation(counts.shape[0])
    rows = np.resize(rows, args.steps * args.batch_size)  # wraps around: the steps may pass one epoch
    trainers = [Trainer(m, counts, rows, None, config, 0, device) for m in (module, copy.deepcopy(module))]
    report: dict[str, object] = {"device": str(device), "cuda_graphs": args.cuda_graphs,
                                 "deterministic_algorithms": args.deterministic_algorithms, "first_difference": None}
    for step, batch in trainers[0]._batches(rows, args.batch_size):
        state = torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
        seen: list[dict[str, torch.Tensor]] = []
        for trainer in trainers:
            torch.set_rng_state(state[0])
            if state[1] is not None:
                torch.cuda.set_rng_state(state[1], device)
            with torch.no_grad():
                terms = trainer.module(batch)
            named = {"log_likelihood": terms.log_likelihood, **{f"kl{i}": k for i, k in enumerate(terms.kl_per_layer)}}
            torch.set_rng_state(state[0])
            if state[1] is not None:
                torch.cuda.set_rng_state(state[1], device)
            trainer._step(batch, 1.0)
            named |= {f"param {n}": p.detach().clone() for n, p in trainer.module.named_parameters()}
            named |= {f"grad {n}": p.grad.clone() for n, p in trainer.module.named_parameters() if p.grad is not None}
            seen.append(named)
        diff = differing(*seen)
        print(f"step {step}: {len(diff)} tensors differ", flush=True)
        if diff:
            report["first_difference"] = {"step": step, "tensors": diff}
            for name, size in sorted(diff.items(), key=lambda item: -item[1])[:20]:
                print(f"  {size:.3e}  {name}")
            break
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
