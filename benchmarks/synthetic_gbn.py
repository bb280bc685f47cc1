"""Synthetic bag-of-words corpora drawn from a 3-layer gamma belief network, written chunk by chunk.

    python benchmarks/synthetic_gbn.py --docs 100000 --vocab 20000 --out build/speed/gbn-100k-20k

The generative process (per document d; widths K3, K2, K1 = 32, 64, 128 by default):

    theta3_d ~ Gam(r, 1)                       r = 1 (every top topic)
    theta2_d ~ Gam(Phi3 theta3_d, 1)           Phi3: K2 x K3, columns ~ Dirichlet(0.1)
    theta1_d ~ Gam(Phi2 theta2_d, 1)           Phi2: K1 x K2, columns ~ Dirichlet(0.1)
    x_dv     ~ Pois(lambda_d [Phi1 theta1_d / |theta1_d|]_v)
                                               Phi1: V x K1, columns ~ Dirichlet(0.05 V z), z Zipf
                                               (word v has base weight z_v ~ 1 / (v + 1)): sparse-ish
                                               topics over a heavy-tailed vocabulary
    lambda_d ~ Gam(4, 25)                      (about 100 tokens per document)

The Poisson counts are drawn exactly without a dense document x word matrix: first the number of
tokens of each (document, topic) pair, n_dk ~ Pois(lambda_d theta~_dk), then each token's word from its
topic's distribution (inverse CDF). Documents are generated in chunks of ``CHUNK_DOCS`` rows, each with
its own seed derived from (seed, V, chunk index), and the topics from (seed, V) alone, so the corpus of
N documents is the first N rows of any larger one with the same seed and V. A corpus is written as a
prepared corpus folder (format 2: memory-mappable ``counts/*.npy``, see ``deepgbn_text.storage.csr_files``)
that ``Corpus.load`` maps without reading it into memory.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from deepgbn_text.storage.atomic import atomic_dir
from deepgbn_text.storage.corpus import COUNTS_DIR, Corpus, doc_id_line, open_doc_ids, write_vocab_and_meta
from deepgbn_text.storage.csr_files import CSRWriter

CHUNK_DOCS = 16384
WIDTHS = (128, 64, 32)
WORD_CONCENTRATION = 0.05
TOPIC_CONCENTRATION = 0.1
TOP_SHAPE = 1.0
MEAN_TOKENS = 100.0
LENGTH_SHAPE = 4.0
RECIPE = "gbn-v2"
"""Changes whenever the generative process changes, so cached folders are never reused across versions."""


@dataclass(frozen=True)
class SyntheticGBN:
    """The topics of one synthetic GBN over ``n_words`` words (drawn from ``seed`` and ``n_words``)."""

    n_words: int
    seed: int = 0
    widths: tuple[int, ...] = WIDTHS

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.n_words, *key]))

    def topics(self) -> list[np.ndarray]:
        """[Phi1 (K1 x V rows = topics), Phi2 (K2 x K1), Phi3 (K3 x K2)]: row k is topic k's distribution
        over the layer below."""
        rng = self._rng(0)
        below = [self.n_words, *self.widths[:-1]]
        phis = []
        for layer, (k, n_below) in enumerate(zip(self.widths, below)):
            if layer == 0:
                zipf = 1.0 / np.arange(1, n_below + 1)
                alpha = WORD_CONCENTRATION * n_below * zipf / zipf.sum()
            else:
                alpha = np.full(n_below, TOPIC_CONCENTRATION)
            draws = rng.gamma(alpha, 1.0, size=(k, n_below))
            draws[np.arange(k), rng.integers(n_below, size=k)] += 1e-3  # never an all-zero row
            phis.append(draws / draws.sum(axis=1, keepdims=True))
        return phis

    @cached_property
    def _sampler(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(global inverse CDF of the word topics, Phi2, Phi3). Topic k's CDF is shifted by k, so a
        token of topic k with u ~ U(0, 1) has word searchsorted(cdf, k + u) - k V."""
        phi1, phi2, phi3 = self.topics()
        cdf = np.cumsum(phi1, axis=1)
        cdf[:, -1] = 1.0
        cdf += np.arange(phi1.shape[0])[:, None]
        return cdf.ravel(), phi2, phi3

    def chunk(self, index: int, n_docs: int, chunk_docs: int = CHUNK_DOCS) -> sp.csr_matrix:
        """Rows ``index * chunk_docs`` up to ``n_docs`` (at most ``chunk_docs``) as a CSR block."""
        cdf, phi2, phi3 = self._sampler
        k1, v = phi2.shape[1], self.n_words
        keep = min(chunk_docs, n_docs - index * chunk_docs)
        rows = chunk_docs  # always the whole chunk, so that a shorter corpus is a prefix of a longer one
        rng = self._rng(1, index)
        theta = rng.gamma(TOP_SHAPE, 1.0, size=(rows, phi3.shape[0]))
        for phi in (phi3, phi2):
            theta = rng.gamma(np.maximum(theta @ phi, 1e-12), 1.0)
        total = theta.sum(axis=1, keepdims=True)
        theta = np.where(total > 0, theta / np.where(total > 0, total, 1.0), 1.0 / k1)
        lam = rng.gamma(LENGTH_SHAPE, MEAN_TOKENS / LENGTH_SHAPE, size=(rows, 1))
        n_dk = rng.poisson(lam * theta)
        doc, topic = np.nonzero(n_dk)
        n = n_dk[doc, topic]
        token_topic = np.repeat(topic, n)
        token_doc = np.repeat(doc, n)
        words = np.searchsorted(cdf, token_topic + rng.random(token_topic.size), side="right")
        words = np.minimum(words, (token_topic + 1) * v - 1) - token_topic * v
        keys, counts = np.unique(token_doc.astype(np.int64) * v + words, return_counts=True)
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // v, minlength=rows), out=indptr[1:])
        block = sp.csr_matrix((counts.astype(np.int32), (keys % v).astype(np.int32), indptr), shape=(rows, v))
        block.has_canonical_format = True
        return block if keep == rows else block[:keep]

    def chunks(self, n_docs: int, chunk_docs: int = CHUNK_DOCS, workers: int = 1) -> Iterator[sp.csr_matrix]:
        """The corpus as CSR blocks of ``chunk_docs`` rows (int32 counts, canonical format), in order;
        ``workers > 1`` draws them in that many processes (the same blocks: each has its own seed)."""
        n_chunks = -(-n_docs // chunk_docs)
        if workers <= 1 or n_chunks == 1:
            for index in range(n_chunks):
                yield self.chunk(index, n_docs, chunk_docs)
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_init_worker, initargs=(self,)) as pool:
            yield from pool.imap(_chunk_job, [(index, n_docs, chunk_docs) for index in range(n_chunks)])


_WORKER: dict[str, SyntheticGBN] = {}


def _init_worker(model: SyntheticGBN) -> None:
    _WORKER["model"] = SyntheticGBN(model.n_words, model.seed, model.widths)


def _chunk_job(job: tuple[int, int, int]) -> sp.csr_matrix:
    return _WORKER["model"].chunk(*job)


def vocabulary(n_words: int) -> list[str]:
    return [f"w{j:05d}" for j in range(n_words)]


def folder_name(n_docs: int, n_words: int, seed: int) -> str:
    return f"{RECIPE}-n{n_docs}-v{n_words}-s{seed}"


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 1) - 1))


def write_corpus(path: Path, n_docs: int, n_words: int, seed: int = 0, workers: int = 1) -> dict[str, float]:
    """Generate the corpus into a prepared corpus folder at ``path`` (atomically); return its statistics.

    The blocks are kept until the total number of non-zeros is known (the CSR writer needs it up front):
    memory is about the size of the CSR counts, never N x V."""
    started = time.perf_counter()
    model = SyntheticGBN(n_words, seed)
    blocks, nnz = [], 0
    for block in model.chunks(n_docs, workers=workers):
        blocks.append(block)
        nnz += block.nnz
    with atomic_dir(path) as tmp:
        with CSRWriter(tmp / COUNTS_DIR, n_docs, n_words, nnz) as writer:
            while blocks:
                writer.append(blocks.pop(0))
        with open_doc_ids(tmp) as out:
            out.writelines(doc_id_line(str(i)) for i in range(n_docs))
        write_vocab_and_meta(tmp, vocabulary(n_words), n_docs, writer.n_tokens)
        stats = {"n_docs": n_docs, "n_words": n_words, "seed": seed, "recipe": RECIPE, "nnz": nnz,
                 "n_tokens": writer.n_tokens, "tokens_per_doc": writer.n_tokens / n_docs,
                 "generate_seconds": round(time.perf_counter() - started, 2)}
        (tmp / "synthetic.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    return stats


def ensure_corpus(cache: Path, n_docs: int, n_words: int, seed: int = 0, workers: int = 1) -> Path:
    """The cached corpus folder for (N, V, seed) under ``cache``, generated first if missing."""
    path = cache / folder_name(n_docs, n_words, seed)
    if not (path / "synthetic.json").is_file():
        write_corpus(path, n_docs, n_words, seed, workers)
    return path


def corpus_stats(path: Path) -> dict[str, float]:
    return json.loads((path / "synthetic.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--vocab", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1, help="processes drawing chunks (same corpus for any number)")
    args = parser.parse_args()
    stats = write_corpus(args.out, args.docs, args.vocab, args.seed, args.workers)
    corpus = Corpus.load(args.out)
    print(json.dumps({**stats, "loaded": list(corpus.counts.shape)}))


if __name__ == "__main__":
    main()
