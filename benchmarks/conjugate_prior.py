"""How the bottom layer's conjugate inference predicts held-out words, prior by prior and strength by strength.

    OMP_NUM_THREADS=1 python benchmarks/conjugate_prior.py --corpus bbc --depths 3,1 --json bbc-conjugate.json
    python benchmarks/conjugate_prior.py --corpus sample --epochs 2                        # smoke test

Fits the default model at each depth of ``--depths`` on a corpus of benchmarks/bench_corpora.py and scores
the test documents (document completion, 20% held out, seed 0) with: the encoder mean alone; the
conjugate fixed point (model/refine.py) with the prior shape from the layer above, the document's own
(f_2 of the encoder's theta^(2)), at every strength of PRIOR_STRENGTHS; and the same with a prior that knows
nothing of the document (the top layer's prior mean r pushed down the links), to show what the layers
above add. Prints one row per depth and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_corpora import load  # noqa: E402
from deepgbn_text import GeneralizedGBN  # noqa: E402
from deepgbn_text.storage.atomic import write_json  # noqa: E402
from deepgbn_text.distributions import CountAllocation, gamma_poisson_fixed_point  # noqa: E402
from deepgbn_text.estimator import default_topics  # noqa: E402
from deepgbn_text.evaluate import completion_perplexity, completion_split  # noqa: E402
from deepgbn_text.model import SparseBatch  # noqa: E402
from deepgbn_text.model.refine import PRIOR_STRENGTHS, PriorStrength  # noqa: E402


class ConjugateWithPrior:
    """Word distributions from the conjugate fixed point with the document's prior or the global one."""

    def __init__(self, model: GeneralizedGBN, strength: PriorStrength, documents_prior: bool) -> None:
        self.model, self.strength, self.documents_prior = model, strength, documents_prior

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        module = self.model.module_
        batch = SparseBatch.from_csr(observed, self.model.device_)
        with torch.no_grad():
            means = module.posterior_means(batch)
            if self.documents_prior:
                prior = module.bottom_prior_shape(means)
            else:
                top = module.top_shape[None]
                prior = module.propagate_down(top, module.n_layers - 1, to_layer=0).expand_as(means[0])
            phi = module.links[0].phi
            allocation = CountAllocation(batch.offsets, batch.cols, batch.values, batch.rows, phi)
            theta = gamma_poisson_fixed_point(allocation, self.strength(prior), means[0], self.model.conjugate_steps)
            rates = theta @ phi.T
        return (rates / rates.sum(-1, keepdim=True)).cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="sample")
    parser.add_argument("--depths", default="3,1")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train, test = load(args.corpus)
    observed, heldout = completion_split(test.counts, 0.2, seed=0)
    rows = []
    for depth in (int(d) for d in args.depths.split(",")):
        started = time.perf_counter()
        model = GeneralizedGBN(n_layers=depth, epochs=args.epochs, seed=args.seed, device="cpu").fit(train)
        row = {"depth": depth, "topics": default_topics(depth), "fit_seconds": round(time.perf_counter() - started, 1),
               "prior_chosen": str(model.prior_),
               "default": round(completion_perplexity(model, observed, heldout), 1)}
        for documents_prior in (True, False):
            key = "documents_prior" if documents_prior else "global_prior"
            row[key] = {str(strength): round(completion_perplexity(ConjugateWithPrior(model, strength, documents_prior),
                                                                   observed, heldout), 1) for strength in PRIOR_STRENGTHS}
        row["encoder_mean"] = round(completion_perplexity(model.set_params(conjugate_steps=0), observed, heldout), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "corpus": args.corpus, "seed": args.seed,
                               "torch_threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
