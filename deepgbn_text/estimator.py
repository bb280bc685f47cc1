"""GeneralizedGBN: a scikit-learn-style estimator around the GBN module (fit, transform, topics, save)."""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file
from sklearn.model_selection import train_test_split

from .atomic import atomic_dir, read_json_object
from .corpus import Corpus, counts_for_vocab, vocab_hash
from .csr_files import take_rows
from .errors import UserInputError
from .model.batch import SparseBatch
from .model_config import check_config, check_digest, check_weights, weights_digest
from .threads import training_threads
from .distributions import POSTERIORS
from .model.gbn import LINKS, GBN
from .train import EVAL_BATCH_SIZE, CheckpointPlan, GBNWordDistribution, TrainConfig, Trainer, deterministic_on_cpu

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MODEL_FORMAT_VERSION = 1
DEFAULT_TOP_WIDTH = 128
LEGACY_PARAMS = {"layer_likelihood": 0.0, "balanced_links": False, "upper_concentration": 1.0, "gate_max": 1.0}
"""The values that reproduce a model saved before these parameters existed (read when its config lacks them)."""
SUMMARY_CHUNK_DOCS = 16384
ENCODERS = ("upward-downward", "upward")
"""upward-downward: each layer's Weibull head also reads the prior shape from the layer above (WHAI);
upward: the heads read only the upward state (the ablation)."""


def default_topics(n_layers: int) -> list[int]:
    """Widths from 128, a quarter per layer for two layers, then a half, at least 2: 1 layer -> [128],
    3 layers -> [128, 32, 8], 5 layers -> [128, 32, 8, 4, 2]. Wider upper layers had most of their
    topics repeat another's (docs/model.md)."""
    return [max(2, DEFAULT_TOP_WIDTH >> min(2 * i, i + 2)) for i in range(n_layers)]


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


class GeneralizedGBN:
    """Deep topic model: Poisson likelihood, gamma latents at every layer, Weibull upward-downward encoder.

    ``link="nonlinear"`` is the Generalized GBN; ``link="linear"`` is the GBN of WHAI/PGBN.
    Layers are numbered 1 (closest to the words) to L (the top) in every public method.
    """

    _param_checks: dict[str, Callable[[Any], bool]] = {
        "n_layers": lambda v: isinstance(v, int) and v >= 1,
        "link": lambda v: v in LINKS,
        "encoder": lambda v: v in ENCODERS,
        "posterior": lambda v: v in POSTERIORS,
        "hidden": lambda v: isinstance(v, int) and v >= 1,
        "layer_likelihood": lambda v: isinstance(v, (int, float)) and v >= 0,
        "balanced_links": lambda v: isinstance(v, bool),
        "upper_concentration": lambda v: isinstance(v, (int, float)) and v > 0,
        "gate_max": lambda v: isinstance(v, (int, float)) and 0 <= v <= 1,
        "epochs": lambda v: isinstance(v, int) and v >= 1,
        "batch_size": lambda v: isinstance(v, int) and v >= 1,
        "lr": lambda v: isinstance(v, (int, float)) and v > 0,
        "kl_warmup": lambda v: isinstance(v, (int, float)) and 0 <= v <= 1,
        "val_fraction": lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
        "patience": lambda v: isinstance(v, int) and v >= 1,
        "lr_decay_patience": lambda v: isinstance(v, int) and v >= 0,
        "ema_decay": lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
        "torch_compile": lambda v: isinstance(v, bool),
        "cuda_graphs": lambda v: isinstance(v, bool),
        "seed": lambda v: isinstance(v, int) and v >= 0,
        "refine_steps": lambda v: isinstance(v, int) and v >= 0,
        "device": lambda v: isinstance(v, str) and (v in ("auto", "cpu") or v.startswith("cuda")),
    }

    def __init__(
        self,
        n_topics: Sequence[int] | None = None,
        n_layers: int = 3,
        link: str = "nonlinear",
        encoder: str = "upward-downward",
        posterior: str = "weibull",
        hidden: int = 256,
        layer_likelihood: float = 1.0,
        balanced_links: bool = True,
        upper_concentration: float = 0.1,
        gate_max: float = 0.1,
        epochs: int = 300,
        batch_size: int = 64,
        lr: float = 3e-3,
        kl_warmup: float = 0.1,
        val_fraction: float = 0.1,
        patience: int = 30,
        lr_decay_patience: int = 0,
        ema_decay: float = 0.0,
        torch_compile: bool = False,
        cuda_graphs: bool = True,
        seed: int = 0,
        device: str = "auto",
        refine_steps: int = 0,
    ) -> None:
        self.n_topics = list(n_topics) if n_topics is not None else None
        self.n_layers = n_layers
        self.link = link
        self.encoder = encoder
        self.posterior = posterior
        self.hidden = hidden
        self.layer_likelihood = layer_likelihood
        self.balanced_links = balanced_links
        self.upper_concentration = upper_concentration
        self.gate_max = gate_max
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.kl_warmup = kl_warmup
        self.val_fraction = val_fraction
        self.patience = patience
        self.lr_decay_patience = lr_decay_patience
        self.ema_decay = ema_decay
        self.torch_compile = torch_compile
        self.cuda_graphs = cuda_graphs
        self.seed = seed
        self.device = device
        self.refine_steps = refine_steps

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("n_topics", *self._param_checks)}

    def validate_params(self) -> list[int]:
        """Check every parameter (UserInputError naming the option); return the layer widths."""
        for name, ok in self._param_checks.items():
            if not ok(getattr(self, name)):
                option = "layers" if name == "n_layers" else name.replace("_", "-")
                raise UserInputError(f"--{option}: invalid value {getattr(self, name)!r}")
        if self.n_topics is None:
            return default_topics(self.n_layers)
        if not self.n_topics or any(not isinstance(k, int) or k < 1 for k in self.n_topics):
            raise UserInputError(f"--topics: widths must be positive integers, got {self.n_topics}")
        if len(self.n_topics) != self.n_layers:
            raise UserInputError(
                f"--topics gives {len(self.n_topics)} widths but --layers is {self.n_layers}; give one width per layer"
            )
        return list(self.n_topics)

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        X: Corpus | sp.spmatrix,
        vocab: Sequence[str] | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
    ) -> GeneralizedGBN:
        """Fit on a Corpus, or on a count matrix with its vocabulary. ``callback`` gets one record per epoch.

        ``checkpoint``: a file to write the training state to at every epoch end (and every
        ``checkpoint_every`` steps when > 0); ``resume=True`` continues from it, and Ctrl-C then
        checkpoints and stops. The counts may be memory-mapped: training reads the rows it needs."""
        topics = self.validate_params()
        corpus = X if isinstance(X, Corpus) else Corpus(X, list(vocab) if vocab is not None else
                                                          [f"w{i}" for i in range(X.shape[1])])
        rows = self.check_corpus(corpus)
        if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise UserInputError(f"--checkpoint-every: expected a whole number of steps >= 0, got {checkpoint_every!r}")
        self.device_ = resolve_device(self.device)
        if self.torch_compile and (problem := compile_toolchain_problem(self.device_)):
            raise UserInputError(f"{problem}; install it or leave the option out")
        torch.manual_seed(self.seed)
        train_rows, val_rows = rows, None
        if self.val_fraction > 0:
            train_rows, val_rows = (np.sort(part) for part in
                                    train_test_split(rows, test_size=self.val_fraction, random_state=self.seed))
        self.vocab_ = list(corpus.vocab)
        self.topics_ = topics
        self.module_ = self._build_module(corpus.n_words, topics).to(self.device_)
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             kl_warmup=self.kl_warmup, patience=self.patience,
                             lr_decay_patience=self.lr_decay_patience, ema_decay=self.ema_decay,
                             torch_compile=self.torch_compile, cuda_graphs=self.cuda_graphs)
        plan = None
        if checkpoint is not None:
            fingerprint = {**{k: v for k, v in self.get_params().items() if k not in ("device", "cuda_graphs")},
                           "vocab_hash": vocab_hash(self.vocab_), "n_docs": corpus.n_docs}
            plan = CheckpointPlan(Path(checkpoint), fingerprint, checkpoint_every, resume)
        elif resume:
            raise UserInputError("resume=True needs the checkpoint file to resume from")
        with deterministic_on_cpu(self.device_), training_threads(self.device_.type):
            trainer = Trainer(self.module_, corpus.counts, train_rows, val_rows, config, self.seed, self.device_,
                              callback, plan)
            self.history_ = trainer.run()
        self._summarise_layers(corpus.counts, train_rows)
        return self

    def check_corpus(self, corpus: Corpus) -> np.ndarray:
        """Check that the model can be fitted on ``corpus``; return the rows of its non-empty documents."""
        topics = self.validate_params()
        rows = np.flatnonzero(np.diff(corpus.counts.indptr) > 0)
        min_docs = 2 if self.val_fraction == 0 else 10
        if len(rows) < min_docs:
            raise UserInputError(f"the corpus has {len(rows)} non-empty documents; at least {min_docs} are needed")
        if topics[0] > corpus.n_words:
            raise UserInputError(
                f"--topics: the first layer has {topics[0]} topics but the vocabulary only {corpus.n_words} words"
            )
        return rows

    def _summarise_layers(self, counts: sp.csr_matrix, rows: np.ndarray) -> None:
        """Mean topic proportions and mean theta of every layer over ``rows`` (read a chunk at a time)."""
        shares = [np.zeros(k) for k in self.topics_]
        totals = [np.zeros(k) for k in self.topics_]
        for start in range(0, len(rows), SUMMARY_CHUNK_DOCS):
            chunk = take_rows(counts, rows[start : start + SUMMARY_CHUNK_DOCS])
            for layer, theta in enumerate(self.transform(chunk)):
                shares[layer] += (theta / np.maximum(theta.sum(1, keepdims=True), 1e-12)).sum(0)
                totals[layer] += theta.sum(0)
        self.topic_prevalence_ = [(s / len(rows)).tolist() for s in shares]
        self.theta_mean_ = [(t / len(rows)).tolist() for t in totals]

    def _build_module(self, n_words: int, topics: list[int]) -> GBN:
        return GBN(n_words, topics, self.hidden, self.link, use_prior_in_encoder=self.encoder == "upward-downward",
                   posterior=self.posterior, layer_likelihood=self.layer_likelihood,
                   balanced_links=self.balanced_links, upper_concentration=self.upper_concentration,
                   gate_max=self.gate_max)

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise RuntimeError("this GeneralizedGBN is not fitted yet: call fit() or load() first")

    def _counts(self, X: Corpus | sp.spmatrix) -> sp.csr_matrix:
        self._check_fitted()
        return counts_for_vocab(X, self.vocab_)

    # -- inference ----------------------------------------------------------------------------
    def transform(self, X: Corpus | sp.spmatrix) -> list[np.ndarray]:
        """Posterior mean theta of every layer, bottom (layer 1) first: a list of (n_docs x K_l) arrays."""
        counts = self._counts(X)
        parts: list[list[np.ndarray]] = [[] for _ in self.topics_]
        for start in range(0, counts.shape[0], EVAL_BATCH_SIZE):
            batch = SparseBatch.from_csr(take_rows(counts, slice(start, start + EVAL_BATCH_SIZE)), self.device_)
            for layer, theta in enumerate(self.module_.posterior_means(batch)):
                parts[layer].append(theta.cpu().numpy())
        return [np.concatenate(p) for p in parts]

    @property
    def inference(self) -> str:
        """How ``word_distribution`` infers theta (reported by the evaluators)."""
        note = f"encoder posterior mean ({self.posterior.capitalize()} {self.encoder} encoder) on the observed counts"
        if self.refine_steps:
            note += f", refined by {self.refine_steps} Adam steps on each document's ELBO"
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
        return GBNWordDistribution(self.module_, self.device_, index + 1, steps)

    # -- topics -------------------------------------------------------------------------------
    def _check_layer(self, layer: int) -> int:
        self._check_fitted()
        if not 1 <= layer <= len(self.topics_):
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
            "device": str(self.device_),
            "versions": package_versions(),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto") -> GeneralizedGBN:
        """Read a folder written by :meth:`save` (or a run folder). Never unpickles anything.

        config.json is checked against its schema and the weights against the configuration
        (:mod:`deepgbn_text.model_config`) before use: a damaged or foreign folder is a UserInputError."""
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
        model = cls(**{**LEGACY_PARAMS, **config["params"]})
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
        model.topic_prevalence_ = config["topic_prevalence"]
        model.theta_mean_ = config["theta_mean"]
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
