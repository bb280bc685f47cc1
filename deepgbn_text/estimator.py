"""GeneralizedGBN: a scikit-learn estimator (transformer) around the GBN module (fit, transform, topics, save)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import platform
import shutil
import sysconfig
import time
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Union

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import Tags
from sklearn.utils._param_validation import InvalidParameterError, Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, check_non_negative, validate_data

from .storage.atomic import atomic_dir, read_json_object
from .storage.corpus import Corpus, as_count_matrix, counts_for_vocab, vocab_hash
from .storage.csr_files import row_sums, take_rows
from .distributions import POSTERIORS
from .errors import UserInputError
from .evaluate.perplexity import completion_perplexity, completion_split
from .model.batch import SparseBatch
from .model.gbn import LINKS, GBN
from .model.lda_start import check_sampler, gibbs_topics
from .model.upper_start import START_DOCUMENTS, start_upper_links
from .storage.model_config import check_config, check_digest, check_weights, weights_digest
from .params import DeviceNames, InvalidParameter, option_name
from .threads import training_threads
from .model.refine import DEFAULT_PRIOR, PriorStrength, set_bottom_topics
from .training.trainer import (EVAL_BATCH_SIZE, CheckpointPlan, GBNWordDistribution, TrainConfig, Trainer, choose_prior,
                               Validation, refine_topics_by_em,
                    deterministic_on_cpu)
from .tree import topic_id

CountInput = Union[sp.spmatrix, sp.sparray, np.ndarray, Any]
"""A documents x words count matrix: scipy sparse, a numpy array or a pandas DataFrame (columns: words)."""
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MODEL_FORMAT_VERSION = 1
DEFAULT_TOP_WIDTH = 128
LEGACY_PARAMS = {"layer_likelihood": 0.0, "balanced_links": False, "upper_concentration": 1.0, "gate_max": 1.0,
                 "gamma_concentration": 0.0,
                 "conjugate_steps": 0, "pretrain_bottom": False, "topic_em_steps": 0, "upper_start": "random",
                 "deep_kl_warmup": None, "gibbs_sweeps": 0}
"""The values that reproduce a model saved before these parameters existed (read when its config lacks them)."""
SUMMARY_CHUNK_DOCS = 16384
SMALLEST_DEFAULT_BATCH, LARGEST_DEFAULT_BATCH, MIN_STEPS_PER_EPOCH = 64, 256, 32
"""``default_batch_size``: a power of two between the first two with at least the third's steps an epoch."""
BASE_LR = 3e-3
"""``default_lr`` at the smallest default batch."""
SHORT_TEXT_TOKENS = 20
"""Mean tokens per training document below which ``default_topic_lr_scale`` treats a corpus as short texts."""
TOPIC_LR_SCALE, SHORT_TEXT_TOPIC_LR_SCALE = 30.0, 10.0
"""``default_topic_lr_scale`` for most corpora and for short texts."""
DEEP_KL_WARMUP = 1 / 30
"""``deep_kl_warmup``'s default: after the bottom's pretraining and the partition start, the deep stage's KL
weight rises over 10 of 300 epochs instead of 30 (docs/benchmarks.md)."""
DEEP_PATIENCE = 5
"""``default_deep_patience`` for all but short texts: epochs without a better held-out ELBO before the deep
stage stops, after the pretraining."""
POOL_SHAPE_ONE_LAYER, POOL_SHAPE_DEEP = 2.0, 0.6
"""With ``everyday_pools`` P > 0: the pools' fixed prior shape is this many mean document lengths (over the
fitted corpus' non-empty documents), split evenly over the P pools, in a one-layer model (the pretraining
included) and in a deeper model's bottom layer (added to the prior from above). Set by hand on the sample,
BBC, 20 Newsgroups and M10, not chosen by the fit (docs/benchmarks.md)."""
GIBBS_SWEEPS = 500
"""``gibbs_sweeps``' default: half tomotopy's own 1,000, as good a start at half the time (docs/benchmarks.md)."""
GIBBS_PRETRAIN_EPOCHS = 10
"""With the Gibbs start, the one-layer pretraining only starts the encoder (LDA gives the bottom topics): at
most this many epochs of it (docs/benchmarks.md)."""
UPPER_STARTS = ("partition", "random")
"""partition: after the bottom's pretraining, every upper link starts as a balanced partition of the layer below
found by a factorisation of the pretrained latents (model/upper_start.py); random: random logits."""
ENCODERS = ("upward-downward", "upward")
"""upward-downward: each layer's Weibull head also reads the prior shape from the layer above (WHAI);
upward: the heads read only the upward state (the ablation)."""


def default_topics(n_layers: int) -> list[int]:
    """Widths from 128, a quarter per layer for two layers, then a half, at least 2: 1 layer -> [128],
    3 layers -> [128, 32, 8], 5 layers -> [128, 32, 8, 4, 2]. Wider upper layers had most of their
    topics repeat another's (docs/model.md)."""
    return [max(2, DEFAULT_TOP_WIDTH >> min(2 * i, i + 2)) for i in range(n_layers)]


def default_batch_size(n_train_docs: int) -> int:
    """The minibatch size when none is given: the largest of 64, 128 and 256 that still makes at least
    MIN_STEPS_PER_EPOCH steps an epoch. Small corpora need the steps (batch 256 left the Quickstart's upper
    layers with near-duplicates); large ones run faster on large batches at the same perplexity
    (docs/benchmarks.md)."""
    size = SMALLEST_DEFAULT_BATCH
    while size * 2 <= LARGEST_DEFAULT_BATCH and n_train_docs >= size * 2 * MIN_STEPS_PER_EPOCH:
        size *= 2
    return size


def default_lr(batch_size: int) -> float:
    """The learning rate when none is given: 3e-3 at batch 64, scaled with the square root of the batch
    size up to 6e-3 at 256, and kept within those two outside the default batch sizes (larger rates
    were never measured)."""
    clipped = min(max(batch_size, SMALLEST_DEFAULT_BATCH), LARGEST_DEFAULT_BATCH)
    return BASE_LR * math.sqrt(clipped / SMALLEST_DEFAULT_BATCH)


def default_topic_lr_scale(mean_length: float) -> float:
    """How many times faster than the rest the topic logits learn when no scale is given: 30, or 10 for short
    texts (fewer than SHORT_TEXT_TOKENS tokens a training document on average). With the capped gamma prior,
    30 gave more coherent topics at the same perplexity on the sample, BBC and 20 Newsgroups and a lower
    perplexity on long Wikipedia articles, but 8.7% higher perplexity on M10's titles (docs/benchmarks.md)."""
    return SHORT_TEXT_TOPIC_LR_SCALE if mean_length < SHORT_TEXT_TOKENS else TOPIC_LR_SCALE


def mean_length(counts: sp.csr_matrix, rows: np.ndarray) -> float:
    """The mean number of tokens of the documents ``rows`` of ``counts`` (the defaults' measure of short texts)."""
    return float(row_sums(counts)[rows].mean())


def default_deep_patience(mean_length: float, patience: int) -> int:
    """The deep stage's patience after the pretraining when none is given: DEEP_PATIENCE (at most ``patience``),
    or ``patience`` itself for short texts (fewer than SHORT_TEXT_TOKENS tokens a training document on average).
    The validation perplexity is flat after about 10 deep epochs while the held-out ELBO creeps up; at 5, nine
    fits on seven corpora were 0.1% worse on average with deep stages up to 3.6x shorter, but M10's titles
    lost 2.6% (docs/benchmarks.md)."""
    return patience if mean_length < SHORT_TEXT_TOKENS else min(DEEP_PATIENCE, patience)


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    return torch.device(device)


def compile_toolchain_problem(device: torch.device) -> str | None:
    """What ``torch_compile`` lacks on ``device``, if anything: Triton on a GPU; a C++ compiler and
    Python's headers on a CPU (inductor builds C++ extensions there)."""
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "--torch-compile on a GPU needs the triton package"
    compilers = [c for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c]
    if not any(shutil.which(c) for c in compilers):
        return "--torch-compile on a CPU needs a C++ compiler (g++ or clang++)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "--torch-compile on a CPU needs Python's development headers (Python.h)"
    return None


class GeneralizedGBN(TransformerMixin, BaseEstimator):
    """Deep topic model: Poisson likelihood, gamma latents at every layer, Weibull upward-downward encoder.

    ``link="nonlinear"`` is the Generalized GBN; ``link="linear"`` is the GBN of WHAI/PGBN.
    Layers are numbered 1 (closest to the words) to L (the top) in every public method.

    A scikit-learn transformer: ``fit``/``partial_fit`` take a :class:`~deepgbn_text.Corpus` or a
    documents x words count matrix (scipy sparse, numpy or a pandas DataFrame whose columns are the
    words); ``transform`` gives the posterior mean theta of layer ``layer`` (``"all"``: every layer side
    by side, bottom first) and ``transform_layers`` every layer as a list.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_topics": [None, "array-like"],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "link": [StrOptions(set(LINKS))],
        "encoder": [StrOptions(set(ENCODERS))],
        "posterior": [StrOptions(set(POSTERIORS))],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "layer_likelihood": [Interval(Real, 0, None, closed="left")],
        "balanced_links": ["boolean"],
        "upper_concentration": [Interval(Real, 0, None, closed="neither")],
        "gate_max": [Interval(Real, 0, 1, closed="both")],
        "gamma_concentration": [Interval(Real, 0, None, closed="left")],
        "everyday_pools": [Interval(Integral, 0, None, closed="left")],
        "pretrain_bottom": ["boolean"],
        "gibbs_sweeps": [Interval(Integral, 0, None, closed="left")],
        "upper_start": [StrOptions(set(UPPER_STARTS))],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "lr": [None, Interval(Real, 0, None, closed="neither")],
        "kl_warmup": [Interval(Real, 0, 1, closed="both")],
        "deep_kl_warmup": [None, Interval(Real, 0, 1, closed="both")],
        "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "deep_patience": [None, Interval(Integral, 1, None, closed="left")],
        "lr_decay_patience": [Interval(Integral, 0, None, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "topic_lr_scale": [None, Interval(Real, 0, None, closed="neither")],
        "torch_compile": ["boolean"],
        "cuda_graphs": ["boolean"],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "device": [DeviceNames()],
        "refine_steps": [Interval(Integral, 0, None, closed="left")],
        "conjugate_steps": [Interval(Integral, 0, None, closed="left")],
        "topic_em_steps": [Interval(Integral, 0, None, closed="left")],
        "layer": [Interval(Integral, 1, None, closed="left"), StrOptions({"all"})],
    }
    """Every parameter of ``__init__`` and what it accepts (scikit-learn's declarative checks, run by
    ``fit``); a new parameter goes into ``__init__`` and here (a test checks that they agree)."""
    _not_training_params = ("device", "cuda_graphs", "layer", "conjugate_steps")
    """Parameters that leave training unchanged (not part of a checkpoint's fingerprint)."""

    def __init__(
        self,
        n_topics: Sequence[int] | None = None,
        n_layers: int = 3,
        link: str = "nonlinear",
        encoder: str = "upward-downward",
        posterior: str = "weibull",
        hidden: int = 256,
        layer_likelihood: float = 1.0,
        balanced_links: bool = False,
        upper_concentration: float = 0.1,
        gate_max: float = 0.1,
        gamma_concentration: float = 2.0,
        everyday_pools: int = 0,
        pretrain_bottom: bool = True,
        gibbs_sweeps: int = GIBBS_SWEEPS,
        upper_start: str = "partition",
        epochs: int = 300,
        batch_size: int | None = None,
        lr: float | None = None,
        kl_warmup: float = 0.1,
        deep_kl_warmup: float | None = DEEP_KL_WARMUP,
        val_fraction: float = 0.1,
        patience: int = 10,
        deep_patience: int | None = None,
        lr_decay_patience: int = 0,
        ema_decay: float = 0.0,
        topic_lr_scale: float | None = None,
        torch_compile: bool = False,
        cuda_graphs: bool = True,
        seed: int = 0,
        device: str = "auto",
        refine_steps: int = 0,
        conjugate_steps: int = 20,
        topic_em_steps: int = 2,
        layer: int | str = 1,
    ) -> None:
        self.n_topics = n_topics
        self.n_layers = n_layers
        self.link = link
        self.encoder = encoder
        self.posterior = posterior
        self.hidden = hidden
        self.layer_likelihood = layer_likelihood
        self.balanced_links = balanced_links
        self.upper_concentration = upper_concentration
        self.gate_max = gate_max
        self.gamma_concentration = gamma_concentration
        self.everyday_pools = everyday_pools
        self.pretrain_bottom = pretrain_bottom
        self.gibbs_sweeps = gibbs_sweeps
        self.upper_start = upper_start
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.kl_warmup = kl_warmup
        self.deep_kl_warmup = deep_kl_warmup
        self.val_fraction = val_fraction
        self.patience = patience
        self.deep_patience = deep_patience
        self.lr_decay_patience = lr_decay_patience
        self.ema_decay = ema_decay
        self.topic_lr_scale = topic_lr_scale
        self.torch_compile = torch_compile
        self.cuda_graphs = cuda_graphs
        self.seed = seed
        self.device = device
        self.refine_steps = refine_steps
        self.conjugate_steps = conjugate_steps
        self.topic_em_steps = topic_em_steps
        self.layer = layer

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True  # word counts
        tags.transformer_tags.preserves_dtype = []  # theta is float32 whatever the counts' dtype
        return tags

    # -- parameters ---------------------------------------------------------------------------
    def validate_params(self) -> list[int]:
        """Check every parameter against ``_parameter_constraints`` (UserInputError naming the option);
        return the layer widths."""
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            name = next((n for n in self._parameter_constraints if f"'{n}' parameter" in str(exc)), "")
            raise InvalidParameter(f"--{option_name(name)}: invalid value {getattr(self, name, None)!r} ({exc})") from None
        if self.n_topics is None:
            return self._check_pools(default_topics(self.n_layers))
        widths = list(self.n_topics)
        if not widths or any(isinstance(k, bool) or not isinstance(k, Integral) or k < 1 for k in widths):
            raise InvalidParameter(f"--topics: widths must be positive integers, got {self.n_topics}")
        if len(widths) != self.n_layers:
            raise InvalidParameter(
                f"--topics gives {len(widths)} widths but --layers is {self.n_layers}; give one width per layer"
            )
        return self._check_pools([int(k) for k in widths])

    def _check_pools(self, widths: list[int]) -> list[int]:
        if self.everyday_pools >= widths[0]:
            raise InvalidParameter(f"--everyday-pools: {self.everyday_pools} pools leave none of the {widths[0]} "
                                   "bottom topics free; give fewer pools than bottom topics")
        if self.everyday_pools and self.gibbs_sweeps and self.pretrain_bottom and len(widths) > 1:
            raise InvalidParameter("--everyday-pools: the pools belong to the one-layer pretraining's topics, which "
                                   "--gibbs-sweeps replaces; add --gibbs-sweeps 0")
        return widths

    def _fingerprint_params(self) -> dict[str, Any]:
        """The parameters that decide training, as JSON values (a checkpoint belongs to them)."""
        params = {k: v for k, v in self.get_params().items() if k not in self._not_training_params}
        return {**params, "n_topics": None if self.n_topics is None else [int(k) for k in self.n_topics]}

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        X: Corpus | CountInput,
        y: None = None,
        *,
        vocab: Sequence[str] | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
    ) -> GeneralizedGBN:
        """Fit on a Corpus, or on a count matrix (the words: ``vocab``, a DataFrame's columns, or
        w0, w1, ...). ``y`` is ignored. ``callback`` gets one record per epoch.

        ``checkpoint``: a file to write the training state to at every epoch end (and every
        ``checkpoint_every`` steps when > 0); ``resume=True`` continues from it, and Ctrl-C then
        checkpoints and stops. The counts may be memory-mapped: training reads the rows it needs."""
        topics = self.validate_params()
        corpus = self._corpus(X, vocab, reset=True, min_docs=2)
        rows = self.check_corpus(corpus)
        if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise UserInputError(f"--checkpoint-every: expected a whole number of steps >= 0, got {checkpoint_every!r}")
        self._start(corpus, topics)
        train_rows, val_rows = rows, None
        if self.val_fraction > 0:
            train_rows, val_rows = (np.sort(part) for part in
                                    train_test_split(rows, test_size=self.val_fraction, random_state=self.seed))
        plan = None
        if checkpoint is not None:
            fingerprint = {**self._fingerprint_params(), "vocab_hash": vocab_hash(self.vocab_), "n_docs": corpus.n_docs}
            plan = CheckpointPlan(Path(checkpoint), fingerprint, checkpoint_every, resume)
        elif resume:
            raise UserInputError("resume=True needs the checkpoint file to resume from")
        self.pretrain_history_ = []
        self.gibbs_seconds_: float | None = None
        pretrained = self.pretrain_bottom and len(topics) > 1
        if pretrained and not resume:  # a resumed run restores every weight
            self.pretrain_history_ = self._pretrain_bottom(corpus.counts, train_rows, val_rows, callback)
        config = self._train_config(corpus.counts, train_rows)
        if pretrained:  # the deep stage after the pretraining
            warmup = config.kl_warmup if self.deep_kl_warmup is None else self.deep_kl_warmup
            config = dataclasses.replace(config, kl_warmup=warmup,
                                         patience=self._deep_patience(corpus.counts, train_rows))
        self.history_ = self._train(corpus.counts, train_rows, val_rows, config, self.seed, callback, plan)
        self._summarise_layers(corpus.counts, train_rows, seen=0)
        return self

    def partial_fit(self, X: Corpus | CountInput, y: None = None, *, vocab: Sequence[str] | None = None,
                    callback: Callable[[dict[str, Any]], None] | None = None) -> GeneralizedGBN:
        """Online training: one pass (a fresh Adam, full KL weight, no validation) over the documents
        of ``X``, continuing from the previous call's parameters (the first call builds the model).
        Every chunk must have the first chunk's words; ``topic_prevalence_`` and ``theta_mean_`` are
        running means over the documents seen."""
        first = not hasattr(self, "module_")
        topics = self.validate_params() if first else self.topics_
        corpus = self._corpus(X, vocab, reset=first)
        rows = np.flatnonzero(np.diff(corpus.counts.indptr) > 0)
        if first:
            if not len(rows):
                raise UserInputError("partial_fit: the first chunk has no non-empty document")
            self.check_corpus(corpus, min_docs=1)
            self._start(corpus, topics)
        if len(rows):
            config = dataclasses.replace(self._train_config(corpus.counts, rows), epochs=1, kl_warmup=0.0)
            self.history_ = getattr(self, "history_", [])
            seed = self.seed + len(self.history_)
            self.history_ += self._train(corpus.counts, rows, None, config, seed, callback, None)
            self._summarise_layers(corpus.counts, rows, seen=getattr(self, "n_docs_seen_", 0))
        return self

    def _start(self, corpus: Corpus, topics: list[int]) -> None:
        """Seed torch and build the module for ``corpus`` (the first step of fit and partial_fit)."""
        self.device_ = resolve_device(self.device)
        if self.torch_compile and (problem := compile_toolchain_problem(self.device_)):
            raise UserInputError(f"{problem}; install it or leave the option out")
        torch.manual_seed(self.seed)
        self.vocab_ = list(corpus.vocab)
        self.topics_ = topics
        self.module_ = self._build_module(corpus.n_words, topics).to(self.device_)
        self._set_pools(self.module_, corpus.counts)
        self.prior_ = DEFAULT_PRIOR  # until a fit with validation documents chooses one

    def _train_config(self, counts: sp.csr_matrix, train_rows: np.ndarray) -> TrainConfig:
        """The training settings for the training documents ``train_rows`` of ``counts`` (their number decides
        the default batch size, their mean length the default topic learning rate)."""
        batch_size = self.batch_size or default_batch_size(len(train_rows))
        lr = self.lr or default_lr(batch_size)
        topic_lr_scale = self.topic_lr_scale or default_topic_lr_scale(mean_length(counts, train_rows))
        return TrainConfig(epochs=self.epochs, batch_size=batch_size, lr=lr, kl_warmup=self.kl_warmup,
                           patience=self.patience, lr_decay_patience=self.lr_decay_patience,
                           ema_decay=self.ema_decay, topic_lr_scale=topic_lr_scale,
                           torch_compile=self.torch_compile, cuda_graphs=self.cuda_graphs)

    def _deep_patience(self, counts: sp.csr_matrix, train_rows: np.ndarray) -> int:
        """The deep stage's patience after the pretraining: ``deep_patience``, or its default for these documents."""
        if self.deep_patience is not None:
            return self.deep_patience
        return default_deep_patience(mean_length(counts, train_rows), self.patience)

    def _train(self, counts: sp.csr_matrix, train_rows: np.ndarray, val_rows: np.ndarray | None, config: TrainConfig,
               seed: int, callback: Callable[[dict[str, Any]], None] | None,
               plan: CheckpointPlan | None) -> list[dict[str, Any]]:
        with deterministic_on_cpu(self.device_), training_threads(self.device_.type):
            trainer = Trainer(self.module_, counts, train_rows, val_rows, config, seed, self.device_, callback, plan)
            history = trainer.run()
            if self.conjugate_steps and trainer.val is not None:
                self._choose_prior(trainer.val)
                if self.topic_em_steps:
                    self.topic_em_updates_, _ = refine_topics_by_em(
                        self.module_, self.device_, counts, train_rows, trainer.val, self.conjugate_steps,
                        self.prior_, self.topic_em_steps)
                    if self.topic_em_updates_:  # otherwise the trained topics are back, and so is the choice
                        self._choose_prior(trainer.val)
        return history

    def _choose_prior(self, val: Validation) -> None:
        self.prior_, self.val_perplexity_ = choose_prior(
            self.module_, self.device_, val.observed, val.heldout, self.conjugate_steps)

    def _pretrain_bottom(self, counts: sp.csr_matrix, train_rows: np.ndarray, val_rows: np.ndarray | None,
                         callback: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
        """Greedy layer-wise start, as PGBN grows its layers: fit a one-layer model of the bottom width on
        the same documents (same schedule and early stopping), then start the deep model's bottom topics
        and word embedding from it; with ``gibbs_sweeps`` > 0 the bottom topics from collapsed Gibbs LDA
        instead (model/lda_start.py), and the one-layer fit, which then only starts the encoder, stops after
        at most GIBBS_PRETRAIN_EPOCHS epochs. With ``upper_start="partition"`` the upper links start from partitions
        of the bottom latents (the one-layer model's, or LDA's). Returns the one-layer fit's epoch records
        (each with ``"stage": "bottom"``)."""
        if self.gibbs_sweeps:
            check_sampler()  # before any training
        torch.manual_seed(self.seed)
        single = self._build_module(counts.shape[1], self.topics_[:1]).to(self.device_)
        self._set_pools(single, counts)
        staged = None if callback is None else (lambda record: callback({**record, "stage": "bottom"}))
        with deterministic_on_cpu(self.device_), training_threads(self.device_.type):
            config = self._train_config(counts, train_rows)
            if self.gibbs_sweeps:
                config = dataclasses.replace(config, epochs=min(config.epochs, GIBBS_PRETRAIN_EPOCHS))
            history = Trainer(single, counts, train_rows, val_rows, config, self.seed, self.device_, staged).run()
        self.module_.start_bottom_from(single)
        rows = train_rows
        if len(rows) > START_DOCUMENTS:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, START_DOCUMENTS, replace=False))
        if self.gibbs_sweeps:
            started = time.perf_counter()
            topics, latents = gibbs_topics(counts, train_rows, self.topics_[0], self.gibbs_sweeps, self.seed, rows)
            set_bottom_topics(self.module_, torch.from_numpy(topics).to(self.device_))
            self.gibbs_seconds_ = time.perf_counter() - started
        elif self.upper_start == "partition":
            latents = self._thetas(take_rows(counts, rows), single)[0]
        if self.upper_start == "partition":
            start_upper_links(self.module_, latents, self.seed)
        return [{**record, "stage": "bottom"} for record in history]

    def check_corpus(self, corpus: Corpus, min_docs: int | None = None) -> np.ndarray:
        """Check that the model can be fitted on ``corpus``; return the rows of its non-empty documents."""
        topics = self.validate_params()
        rows = np.flatnonzero(np.diff(corpus.counts.indptr) > 0)
        min_docs = min_docs or (2 if self.val_fraction == 0 else 10)
        if len(rows) < min_docs:
            raise UserInputError(f"the corpus has {len(rows)} non-empty documents (samples); "
                                 f"at least {min_docs} are needed")
        if topics[0] > corpus.n_words:
            raise UserInputError(
                f"--topics: the first layer has {topics[0]} topics but the vocabulary only {corpus.n_words} words"
            )
        return rows

    def _summarise_layers(self, counts: sp.csr_matrix, rows: np.ndarray, seen: int) -> None:
        """Mean topic proportions and mean theta of every layer over ``rows`` (read a chunk at a time),
        merged with the means over the ``seen`` documents before them."""
        shares = [np.zeros(k) for k in self.topics_]
        totals = [np.zeros(k) for k in self.topics_]
        for start in range(0, len(rows), SUMMARY_CHUNK_DOCS):
            chunk = take_rows(counts, rows[start : start + SUMMARY_CHUNK_DOCS])
            for layer, theta in enumerate(self._thetas(chunk)):
                shares[layer] += (theta / np.maximum(theta.sum(1, keepdims=True), 1e-12)).sum(0)
                totals[layer] += theta.sum(0)
        n = seen + len(rows)
        if seen:
            shares = [s + seen * np.asarray(old) for s, old in zip(shares, self.topic_prevalence_)]
            totals = [t + seen * np.asarray(old) for t, old in zip(totals, self.theta_mean_)]
        self.topic_prevalence_ = [(s / n).tolist() for s in shares]
        self.theta_mean_ = [(t / n).tolist() for t in totals]
        self.n_docs_seen_ = n

    def _set_pools(self, module: GBN, counts: sp.csr_matrix) -> None:
        """Give ``module``'s everyday-word pools their fixed shape for the documents ``counts`` (see POOL_SHAPE_*)."""
        if self.everyday_pools:
            share = POOL_SHAPE_ONE_LAYER if module.n_layers == 1 else POOL_SHAPE_DEEP
            lengths = row_sums(counts)
            module.set_pool_shape(share * float(lengths[lengths > 0].mean()) / self.everyday_pools)

    def _build_module(self, n_words: int, topics: list[int]) -> GBN:
        return GBN(n_words, topics, self.hidden, self.link, use_prior_in_encoder=self.encoder == "upward-downward",
                   posterior=self.posterior, layer_likelihood=self.layer_likelihood,
                   balanced_links=self.balanced_links, upper_concentration=self.upper_concentration,
                   gate_max=self.gate_max, gamma_concentration=self.gamma_concentration,
                   everyday_pools=self.everyday_pools)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "module_", msg="this GeneralizedGBN is not fitted yet: call fit() or load() first")

    def _corpus(self, X: Corpus | CountInput, vocab: Sequence[str] | None, reset: bool, min_docs: int = 1) -> Corpus:
        """``X`` as a Corpus; a matrix is checked as scikit-learn does (``n_features_in_``, and
        ``feature_names_in_`` for a DataFrame) and must hold non-negative whole numbers."""
        if isinstance(X, Corpus):
            if reset:
                self.n_features_in_ = X.n_words
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            return X
        matrix = validate_data(self, X, reset=reset, accept_sparse=("csr", "csc", "coo"), dtype="numeric",
                               ensure_min_samples=min_docs)
        check_non_negative(matrix, f"{type(self).__name__}.fit" if reset else type(self).__name__)
        counts = as_count_matrix(matrix, "X")
        if vocab is None:
            names = getattr(self, "feature_names_in_", None)
            vocab = [str(w) for w in names] if names is not None else [f"w{i}" for i in range(counts.shape[1])]
        return Corpus._from_valid(counts, list(vocab), [])

    def _counts(self, X: Corpus | CountInput) -> sp.csr_matrix:
        self._check_fitted()
        if isinstance(X, Corpus):
            return counts_for_vocab(X, self.vocab_)
        return self._corpus(X, self.vocab_, reset=False).counts

    # -- inference ----------------------------------------------------------------------------
    def transform_layers(self, X: Corpus | CountInput) -> list[np.ndarray]:
        """Posterior mean theta of every layer, bottom (layer 1) first: a list of (n_docs x K_l) arrays."""
        return self._thetas(self._counts(X))

    def _thetas(self, counts: sp.csr_matrix, module: GBN | None = None) -> list[np.ndarray]:
        """Every layer's posterior mean theta of the documents ``counts`` under ``module`` (default: the model's)."""
        module = module or self.module_
        parts: list[list[np.ndarray]] = [[] for _ in module.topics]
        for start in range(0, counts.shape[0], EVAL_BATCH_SIZE):
            batch = SparseBatch.from_csr(take_rows(counts, slice(start, start + EVAL_BATCH_SIZE)), self.device_)
            for layer, theta in enumerate(module.posterior_means(batch)):
                parts[layer].append(theta.cpu().numpy())
        return [np.concatenate(p) for p in parts]

    def transform(self, X: Corpus | CountInput) -> np.ndarray:
        """Posterior mean theta of layer ``layer`` (n_docs x K_layer), or with ``layer="all"`` every layer
        side by side, bottom first; the columns are named by :meth:`get_feature_names_out`."""
        thetas = self.transform_layers(X)
        return np.hstack(thetas) if self.layer == "all" else thetas[self._check_layer(self.layer)]

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """Topic ids of the columns of :meth:`transform`: ``L1-0``, ``L1-1``, ... (``input_features`` is
        checked as scikit-learn does, then ignored)."""
        self._check_fitted()
        _check_feature_names_in(self, input_features, generate_names=False)
        layers = range(1, len(self.topics_) + 1) if self.layer == "all" else [self._check_layer(self.layer) + 1]
        return np.asarray([topic_id(layer, k) for layer in layers for k in range(self.topics_[layer - 1])], dtype=object)

    @property
    def components_(self) -> np.ndarray:
        """(K_1 x V) word distributions of the layer-1 topics (rows sum to one), as LDA's ``components_``."""
        return self.topic_word(1)

    def perplexity(self, X: Corpus | CountInput) -> float:
        """Document-completion perplexity of ``X`` (lower is better): theta is inferred from 80% of each
        document's tokens (split with ``seed``) and the other 20% are scored, as ``evaluate`` does."""
        observed, heldout = completion_split(self._counts(X), seed=self.seed)
        if heldout.sum() == 0:
            raise UserInputError("the documents are too short: no token is held out for document completion")
        return completion_perplexity(self._scorer(1, None), observed, heldout)

    def score(self, X: Corpus | CountInput, y: None = None) -> float:
        """Mean held-out log-likelihood per token, ``-log(perplexity(X))``: higher is better (what
        ``GridSearchCV`` maximises)."""
        return -math.log(self.perplexity(X))

    @property
    def inference(self) -> str:
        """How ``word_distribution`` infers theta (reported by the evaluators)."""
        note = f"encoder posterior mean ({self.posterior.capitalize()} {self.encoder} encoder) on the observed counts"
        if self.refine_steps:
            note += f", refined by {self.refine_steps} Adam steps on each document's ELBO"
        if self.conjugate_steps:
            note += (f"; layer 1 then by {self.conjugate_steps} conjugate fixed-point steps under the prior from "
                     f"the layer above, {self.prior_}")
        return note

    def word_distribution(self, observed: sp.spmatrix, layer: int = 1, refine_steps: int | None = None) -> np.ndarray:
        """Per-document word distributions inferred from observed counts (the evaluators' protocol).

        ``layer=1`` is the model's prediction; ``layer=l`` reconstructs the words from layer l alone.
        ``refine_steps > 0`` refines each document's posterior by that many gradient steps on its ELBO
        (from the encoder's output; observed counts only); None takes the estimator's ``refine_steps``."""
        return self._scorer(layer, refine_steps).word_distribution(self._counts(observed))

    def word_probabilities(self, observed: sp.spmatrix, rows: np.ndarray, cols: np.ndarray, layer: int = 1,
                           refine_steps: int | None = None) -> np.ndarray:
        """``word_distribution(observed, layer, refine_steps)[rows, cols]`` computed at those entries only
        (no documents x V array): what the perplexity evaluators use."""
        return self._scorer(layer, refine_steps).word_probabilities(self._counts(observed), rows, cols)

    def _scorer(self, layer: int, refine_steps: int | None) -> GBNWordDistribution:
        index = self._check_layer(layer)
        steps = self.refine_steps if refine_steps is None else refine_steps
        return GBNWordDistribution(self.module_, self.device_, index + 1, steps, self.conjugate_steps,
                                   self.prior_)

    # -- topics -------------------------------------------------------------------------------
    def _check_layer(self, layer: int) -> int:
        self._check_fitted()
        if isinstance(layer, bool) or not isinstance(layer, Integral) or not 1 <= layer <= len(self.topics_):
            raise UserInputError(f"layer must be between 1 and {len(self.topics_)}, got {layer}")
        return layer - 1

    def topic_word(self, layer: int = 1) -> np.ndarray:
        """(K_layer x V) word distributions of a layer's topics: a unit activation pushed down the means."""
        index = self._check_layer(layer)
        return self.module_.unit_effects(index, self._baseline(index)).cpu().numpy()

    def topic_children(self, layer: int) -> np.ndarray:
        """(K_layer x K_{layer-1}) weights of each topic's children one layer down (rows sum to one)."""
        index = self._check_layer(layer)
        if index == 0:
            raise UserInputError("layer 1 topics have no child topics (their children are words)")
        return self.module_.unit_effects(index, self._baseline(index), index - 1).cpu().numpy()

    def _baseline(self, index: int) -> torch.Tensor:
        return torch.tensor(self.theta_mean_[index], dtype=torch.float32)

    def topics(self, layer: int = 1, top_n: int = 10) -> list[list[tuple[str, float]]]:
        """The top words (with probabilities) of every topic of ``layer``."""
        dist = self.topic_word(layer)
        top = np.argsort(-dist, axis=1, kind="stable")[:, :top_n]
        return [[(self.vocab_[v], float(row[v])) for v in idx] for row, idx in zip(dist, top)]

    def tree(self, top_n: int = 10, min_edge: float = 0.05):
        """The topic hierarchy of every layer (see :mod:`deepgbn_text.tree`)."""
        from .tree import Tree

        return Tree.from_model(self, top_n=top_n, min_edge=min_edge)

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``path`` (atomically)."""
        self._check_fitted()
        with atomic_dir(path) as tmp:
            self.write_into(tmp)
        return Path(path)

    def write_into(self, folder: Path) -> None:
        """Write the model files into an existing folder (used by save and by run folders)."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()}
        save_file(state, str(folder / MODEL_FILE))
        config = {
            "format_version": MODEL_FORMAT_VERSION,
            "weights_sha256": weights_digest(folder / MODEL_FILE),
            "model": "GeneralizedGBN",
            "params": self.get_params(),
            "topics": self.topics_,
            "vocab": self.vocab_,
            "vocab_hash": vocab_hash(self.vocab_),
            "topic_prevalence": self.topic_prevalence_,
            "theta_mean": self.theta_mean_,
            "prior_scale": self.prior_.scale,
            "prior_power": self.prior_.power,
            "prior_second_layer": self.prior_.second_layer,
            "device": str(self.device_),
            "versions": package_versions(),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto") -> GeneralizedGBN:
        """Read a folder written by :meth:`save` (or a run folder). Never unpickles anything.

        config.json is checked against its schema and the weights against the configuration
        (:mod:`deepgbn_text.storage.model_config`) before use: a damaged or foreign folder is a UserInputError."""
        import inspect

        folder = Path(path)
        config_path, weights_path = folder / CONFIG_FILE, folder / MODEL_FILE
        if not config_path.is_file() or not weights_path.is_file():
            raise UserInputError(f"{folder}: not a model folder (needs {CONFIG_FILE} and {MODEL_FILE})")
        config = read_json_object(config_path)
        if config.get("format_version") != MODEL_FORMAT_VERSION:
            raise UserInputError(f"{config_path}: model format {config.get('format_version')!r} is not supported "
                                 f"(expected {MODEL_FORMAT_VERSION}); fit the model again")
        check_config(config, config_path, inspect.signature(cls).parameters)
        params = {**LEGACY_PARAMS, **config["params"]}
        # saved before deep_patience existed: the deep stage stopped as the pretraining did
        params.setdefault("deep_patience", params.get("patience", inspect.signature(cls).parameters["patience"].default))
        model = cls(**params)
        try:
            widths = model.validate_params()
        except UserInputError as exc:
            raise UserInputError(f"{config_path}: 'params' are invalid ({exc}); fit the model again") from None
        if model.n_topics is not None and widths != config["topics"]:
            raise UserInputError(f"{config_path}: 'params' give the widths {widths} but 'topics' {config['topics']}; "
                                 "fit the model again")
        model.device = device
        model.topics_ = list(config["topics"])
        model.vocab_ = list(config["vocab"])
        model.n_features_in_ = len(model.vocab_)
        model.topic_prevalence_ = config["topic_prevalence"]
        model.theta_mean_ = config["theta_mean"]
        model.prior_ = PriorStrength(float(config.get("prior_scale", DEFAULT_PRIOR.scale)),
                                     float(config.get("prior_power", DEFAULT_PRIOR.power)),
                                     float(config.get("prior_second_layer", DEFAULT_PRIOR.second_layer)))
        model.device_ = resolve_device(device)
        with torch.device("meta"):  # shapes only: a tampered config cannot make us allocate much
            expected = model._build_module(len(model.vocab_), model.topics_).state_dict()
        check_digest(config, weights_path)
        try:
            state = load_file(str(weights_path))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            reason = " ".join(str(exc).split())
            raise UserInputError(f"{weights_path}: cannot read the model weights (not a safetensors file: {reason}); "
                                 "fit the model again") from None
        check_weights(state, expected, weights_path)
        model.module_ = model._build_module(len(model.vocab_), model.topics_)
        model.module_.load_state_dict(state)
        model.module_.to(model.device_).eval()
        return model


def package_versions() -> dict[str, str]:
    """Versions of Python and the numerical packages, recorded with every model."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("deepgbn-text", "torch", "numpy", "scipy", "scikit-learn"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "unknown"
    return versions
