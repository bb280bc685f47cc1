"""ggbn-topics: parse options, call the deepgbn_text API, print results. No modelling code here."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from deepgbn_text.errors import UserInputError

from .common import (MODEL, OUTPUT, TRAINING, AllTopicsOpt, DeviceOpt, FormatOpt, InputArg, LangOpt, LemmaOpt,
                     MaxDfOpt, MaxVocabOpt, MinDfOpt, MinLenOpt, PhrasesOpt, ProcOpt, SeedOpt, StopOpt, TextColumnOpt,
                     VocabOpt, _load_input, _parse_topics, _progress, _setup_logging, _text_options, app, print_tree,
                     stderr, stdout, user_errors)

@app.command()
def prepare(
    input: InputArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write counts/ (indptr, indices, data .npy), vocab.txt, doc_ids.txt and meta.json into.",
                                     rich_help_panel=OUTPUT)],
    format: FormatOpt = None,
    text_column: TextColumnOpt = None,
    vocab: VocabOpt = None,
    min_df: MinDfOpt = 5,
    max_df: MaxDfOpt = 0.5,
    max_vocab: MaxVocabOpt = 10000,
    min_token_len: MinLenOpt = None,
    stopwords: StopOpt = None,
    lemmatize: LemmaOpt = False,
    phrases: PhrasesOpt = False,
    n_process: ProcOpt = 1,
    lang: LangOpt = "en",
) -> None:
    """Tokenise and vectorise INPUT once (streaming: the counts never sit in memory as a whole); write a
    corpus folder of memory-mapped count arrays that `fit` reads directly."""
    from deepgbn_text.text import prepare_corpus

    _setup_logging()
    with user_errors():
        options = _text_options(min_df, max_df, max_vocab, min_token_len, stopwords, lemmatize, phrases, n_process, lang)
        with _progress() as progress:
            task = progress.add_task("reading", total=None, status="")
            info = prepare_corpus(input, out, fmt=format, text_column=text_column,
                                  vocab_path=str(vocab) if vocab else None, options=options,
                                  progress=lambda n: progress.update(task, completed=n, status=f"{n} docs"))
    stdout.print(f"wrote {out}: {info.n_docs} documents, {info.n_words} words, {info.n_tokens} tokens",
                 highlight=False, soft_wrap=True)


@app.command()
def fit(
    input: InputArg,
    layers: Annotated[int, typer.Option("--layers", help="Number of gamma layers.", rich_help_panel=MODEL)] = 3,
    topics: Annotated[Optional[str], typer.Option(help="Widths per layer, bottom first, e.g. 128,32,8 (default: 128, then a quarter per layer twice, then half).", rich_help_panel=MODEL)] = None,
    link: Annotated[str, typer.Option(help="nonlinear (Generalized GBN) or linear (GBN).", rich_help_panel=MODEL)] = "nonlinear",
    encoder: Annotated[str, typer.Option(help="upward-downward (heads read the prior from above) or upward.", rich_help_panel=MODEL)] =
        "upward-downward",
    posterior: Annotated[str, typer.Option(help="Posterior family per layer: weibull or gamma (implicit reparameterisation).", rich_help_panel=MODEL)] =
        "weibull",
    hidden: Annotated[int, typer.Option(help="Encoder and link hidden width.", rich_help_panel=MODEL)] = 256,
    layer_likelihood: Annotated[float, typer.Option(help="Weight of every upper layer's own Poisson likelihood "
                                "of the words, through the bottom topics (0: off).", rich_help_panel=MODEL)] = 1.0,
    balanced_links: Annotated[bool, typer.Option("--balanced-links/--free-links", help="Upper loadings as a "
                              "transport plan with uniform marginals (every child shared out equally) or a "
                              "free column softmax.", rich_help_panel=MODEL)] = False,
    upper_concentration: Annotated[float, typer.Option(help="Dirichlet concentration on the upper loadings' "
                                   "columns (< 1: parents of few children; 1: flat).", rich_help_panel=MODEL)] = 0.1,
    gate_max: Annotated[float, typer.Option(help="Largest weight of the non-linear expert in a link "
                        "(0: the linear path only).", rich_help_panel=MODEL)] = 0.1,
    gamma_concentration: Annotated[float, typer.Option(help="Below the top layer, a layer's gamma prior keeps "
                                   "its mean but its total shape (how closely the layer follows the one above) "
                                   "grows as this times the square root of its mass, not as the mass "
                                   "(0: the plain GBN's prior).", rich_help_panel=MODEL)] = 2.0,
    everyday_pools: Annotated[int, typer.Option(help="Hold this many bottom topics as everyday-word pools under "
                              "a fixed prior that every document shares: more coherent topics on some corpora, "
                              "at some perplexity (0: none).", rich_help_panel=MODEL)] = 0,
    pretrain_bottom: Annotated[bool, typer.Option("--pretrain-bottom/--no-pretrain-bottom", help="Start a deep "
                               "model's bottom topics from a one-layer model fitted first (greedy layer-wise, "
                               "as PGBN).", rich_help_panel=MODEL)] = True,
    gibbs_sweeps: Annotated[int, typer.Option(help="After --pretrain-bottom: start the deep model's bottom topics "
                            "from this many sweeps of collapsed Gibbs LDA (tomotopy) on the training documents "
                            "instead of the one-layer model's (0: the one-layer model's).",
                            rich_help_panel=MODEL)] = 500,
    upper_start: Annotated[str, typer.Option(help="After --pretrain-bottom: start every upper link as a balanced "
                           "partition of the layer below that a factorisation of the pretrained topic proportions "
                           "finds (partition), or from random logits (random).", rich_help_panel=MODEL)] = "partition",
    conjugate_steps: Annotated[int, typer.Option(help="Fixed-point steps of the bottom layer's conjugate "
                               "update over a document's words under the prior from the layer above, after the "
                               "encoder, when predicting words (0: the encoder's mean).", rich_help_panel=MODEL)] = 20,
    topic_em_steps: Annotated[int, typer.Option(help="After training, at most this many EM updates of the bottom "
                              "topics over the training documents under the conjugate inference, each kept only "
                              "if the validation perplexity falls (0: off).", rich_help_panel=MODEL)] = 2,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs.", rich_help_panel=TRAINING)] = 300,
    batch_size: Annotated[Optional[int], typer.Option(help="Documents per minibatch (default: 64, 128 or 256, the "
                          "largest that makes at least 32 steps an epoch).", rich_help_panel=TRAINING)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Adam learning rate (default: 3e-3 times the square root of "
                  "batch size / 64, within 3e-3 and 6e-3).", rich_help_panel=TRAINING)] = None,
    kl_warmup: Annotated[float, typer.Option(help="Share of epochs over which the KL weight rises to 1.", rich_help_panel=TRAINING)] = 0.1,
    deep_kl_warmup: Annotated[float, typer.Option(help="The same for the deep stage after --pretrain-bottom "
                              "(default 1/30: 10 of 300 epochs).", rich_help_panel=TRAINING)] = 1 / 30,
    val_fraction: Annotated[float, typer.Option(help="Share of documents held out for early stopping.", rich_help_panel=TRAINING)] = 0.1,
    patience: Annotated[int, typer.Option(help="Epochs without held-out ELBO gain before stopping.", rich_help_panel=TRAINING)] = 10,
    deep_patience: Annotated[Optional[int], typer.Option(help="The same for the deep stage after --pretrain-bottom "
                             "(default: 5, or --patience for short texts).", rich_help_panel=TRAINING)] = None,
    lr_decay_patience: Annotated[int, typer.Option(
        help="Halve the learning rate after every this many epochs without held-out ELBO gain (0: never).", rich_help_panel=TRAINING)] = 0,
    ema_decay: Annotated[float, typer.Option(
        help="Validate and keep a moving average of the parameters with this decay per step (0: off; try 0.995).", rich_help_panel=TRAINING)] = 0.0,
    topic_lr_scale: Annotated[Optional[float], typer.Option(help="The topic logits learn this many times faster "
                              "than the rest (default: 30, or 10 for short texts of fewer than 20 tokens a document "
                              "on average; docs/benchmarks.md).", rich_help_panel=TRAINING)] = None,
    torch_compile: Annotated[bool, typer.Option("--torch-compile", help="Fuse the training step's kernels with "
                             "torch.compile (needs a C++ compiler on CPU, Triton on GPU; the first steps compile).", rich_help_panel=TRAINING)] = False,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs/--no-cuda-graphs", help="On a GPU, replay each "
                           "training step from a CUDA graph (one process, without --torch-compile).", rich_help_panel=TRAINING)] = True,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default runs/<input>-<timestamp>).", rich_help_panel=OUTPUT)] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the interrupted run in this folder "
                                                   "(give the same input and options as before).", rich_help_panel=TRAINING)] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Also checkpoint every this many steps (0: at epoch ends only).", rich_help_panel=TRAINING)] = 0,
    distributed: Annotated[Optional[bool], typer.Option("--distributed/--no-distributed", help="Data-parallel "
                           "training under torchrun (default: on when torchrun started the command).", rich_help_panel=TRAINING)] = None,
    top_words: Annotated[int, typer.Option(help="Words per topic in topics.json/md and the printed tree.", rich_help_panel=OUTPUT)] = 10,
    min_edge: Annotated[float, typer.Option(help="Smallest parent -> child weight kept in the tree.", rich_help_panel=OUTPUT)] = 0.05,
    all_topics: AllTopicsOpt = False,
    format: FormatOpt = None,
    text_column: TextColumnOpt = None,
    vocab: VocabOpt = None,
    min_df: MinDfOpt = 5,
    max_df: MaxDfOpt = 0.5,
    max_vocab: MaxVocabOpt = 10000,
    min_token_len: MinLenOpt = None,
    stopwords: StopOpt = None,
    lemmatize: LemmaOpt = False,
    phrases: PhrasesOpt = False,
    n_process: ProcOpt = 1,
    lang: LangOpt = "en",
) -> None:
    """Fit a deep topic model on INPUT and write a run folder (model, topics.json/md, metrics.json).

    The run folder holds checkpoint.pt while training: after a crash or Ctrl-C, run the same command
    with --resume RUN_FOLDER to continue where it stopped."""
    from deepgbn_text import GeneralizedGBN
    from deepgbn_text.training.checkpoint import CHECKPOINT_FILE
    from deepgbn_text.estimator import CONFIG_FILE
    from deepgbn_text.training.distributed import Ranks, init_from_environment, launched_by_torchrun
    from deepgbn_text.evaluate.diagnostics import collapse_messages
    from deepgbn_text.runs import default_run_dir, summarise, write_run

    _setup_logging()
    with user_errors():
        if distributed or (distributed is None and launched_by_torchrun()):
            device = init_from_environment(device)
        main = Ranks.current().is_main
        if resume is not None and out is not None and out != resume:
            raise UserInputError(f"--out {out} and --resume {resume} name different folders; give only --resume")
        run_dir = resume or out or default_run_dir(input)
        if resume is not None and not (resume / CHECKPOINT_FILE).is_file():
            raise UserInputError(f"--resume {resume}: no {CHECKPOINT_FILE} in that folder; start a new run instead")
        if resume is None and (Path(run_dir) / CHECKPOINT_FILE).is_file() and not (Path(run_dir) / CONFIG_FILE).is_file():
            raise UserInputError(f"--out {run_dir} holds an interrupted run; continue it with --resume {run_dir} "
                                 "or choose another --out")
        model = GeneralizedGBN(n_topics=_parse_topics(topics), n_layers=layers, link=link, encoder=encoder, posterior=posterior, hidden=hidden,
                               layer_likelihood=layer_likelihood, balanced_links=balanced_links,
                               upper_concentration=upper_concentration, gate_max=gate_max,
                               gamma_concentration=gamma_concentration, everyday_pools=everyday_pools, pretrain_bottom=pretrain_bottom, gibbs_sweeps=gibbs_sweeps, upper_start=upper_start, conjugate_steps=conjugate_steps,
                               topic_em_steps=topic_em_steps, epochs=epochs,
                               batch_size=batch_size, lr=lr, kl_warmup=kl_warmup, deep_kl_warmup=deep_kl_warmup, val_fraction=val_fraction,
                               patience=patience, deep_patience=deep_patience, lr_decay_patience=lr_decay_patience, ema_decay=ema_decay, topic_lr_scale=topic_lr_scale,
                               torch_compile=torch_compile,
                               cuda_graphs=cuda_graphs, seed=seed, device=device)
        model.validate_params()
        if not 0 < min_edge <= 1:
            raise UserInputError(f"--min-edge must be in (0, 1], got {min_edge}")
        options = _text_options(min_df, max_df, max_vocab, min_token_len, stopwords, lemmatize, phrases, n_process, lang)
        corpus = _load_input(input, format, text_column, vocab, options)
        model.check_corpus(corpus)
        if main:
            stderr.print(f"corpus: {corpus.n_docs} documents, {corpus.n_words} words, {corpus.n_tokens} tokens")
        with _progress() as progress:
            task = progress.add_task("training", total=epochs, status="", visible=main)

            def on_epoch(record: dict) -> None:
                status = ("layer 1 alone: " if record.get("stage") == "bottom" else "")
                status += f"ELBO/token {record['train_elbo_per_token']:.3f}"
                if "val_perplexity" in record:
                    status += f"  val ELBO/token {record['val_elbo_per_token']:.3f}  val ppl {record['val_perplexity']:.0f}"
                progress.update(task, completed=record["epoch"], status=status)

            model.fit(corpus, callback=on_epoch, checkpoint=Path(run_dir) / CHECKPOINT_FILE,
                      checkpoint_every=checkpoint_every, resume=resume is not None)
        if not main:
            return
        text_options = dataclasses.asdict(options)
        write_run(model, run_dir, extra_config={"input": str(input), "n_docs": corpus.n_docs, "text_options": text_options},
                  top_n=top_words, min_edge=min_edge, all_topics=all_topics)
    summary = summarise(model.history_)
    if getattr(model, "pretrain_history_", None):
        bottom = summarise(model.pretrain_history_)
        stderr.print(f"pretrained the bottom layer alone for {bottom['epochs_run']} epochs in "
                     f"{bottom['fit_seconds']:.1f} s")
    if getattr(model, "gibbs_seconds_", None) is not None:
        stderr.print(f"started the bottom topics from {model.gibbs_sweeps} sweeps of collapsed Gibbs LDA in "
                     f"{model.gibbs_seconds_:.1f} s")
    stderr.print(f"trained {summary['epochs_run']} epochs in {summary['fit_seconds']:.1f} s on {model.device_}"
              + (f"; best epoch {summary['best_epoch']}: val perplexity {summary['val_perplexity']:.1f}"
                 if "best_epoch" in summary else ""))
    if hasattr(model, "topic_em_updates_"):
        stderr.print(f"refined the bottom topics by {model.topic_em_updates_} EM update(s) over the training "
                     f"documents (kept while the validation perplexity fell)")
    if hasattr(model, "val_perplexity_"):
        stderr.print(f"validation perplexity {model.val_perplexity_:.1f} with the conjugate inference "
                     f"(the prior {model.prior_}, chosen on the validation documents)")
    tree = model.tree(top_n=top_words, min_edge=min_edge)
    print_tree(tree if all_topics else tree.without_dead(), top_words)
    for message in collapse_messages(model):
        stderr.print(message, highlight=False, soft_wrap=True)
    stderr.print(f"wrote {run_dir}")


def main() -> None:
    """Console-script entry point."""
    app()


from . import evaluate_cmds, topics_cmds  # noqa: E402,F401  (after prepare and fit: --help lists commands in this order)


if __name__ == "__main__":
    main()
