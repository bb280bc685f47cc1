"""What every command shares: the typer app, the consoles, error handling, progress bars, and the option
groups declared once (``Annotated`` aliases) with the help panel each is listed under.

Command modules import this module and register on ``app``; ``app.py`` imports the command modules. Nothing
here imports a command module, so no command imports another.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deepgbn_text.errors import UserInputError

app = typer.Typer(
    name="ggbn-topics",
    help="Deep topic models (Generalized Gamma Belief Network) for text and count data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
PIPE_WIDTH = 200
"""Console width when output goes to a file or a pipe: tables keep their rows on one line (rich would
otherwise assume 80 columns; COLUMNS still overrides)."""


def _console(to_stderr: bool = False) -> Console:
    stream = sys.stderr if to_stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(stderr=to_stderr, width=width)


stderr = _console(to_stderr=True)
stdout = _console()

# -- help panels: every command's --help lists its options under these titles ---------------------------------
MODEL = "Model"
TRAINING = "Training"
EVALUATION = "Evaluation"
TEXT = "Text pipeline"
VOCABULARY = "Vocabulary"
DEVICE = "Device and seed"
OUTPUT = "Output"

# -- the shared option groups -----------------------------------------------------------------------------------
InputArg = Annotated[Path, typer.Argument(help="Text file (.txt/.txt.gz, one document per line), folder of .txt files, "
                                               ".csv/.jsonl/.parquet, counts .npz, UCI docword, .mtx, or a prepared corpus folder.")]

# text pipeline: how documents are read and tokenised
FormatOpt = Annotated[Optional[str], typer.Option("--format", help="Input format: txt, dir, csv, jsonl, parquet, npz, uci, mtx, corpus (default: from the name/content).", rich_help_panel=TEXT)]
TextColumnOpt = Annotated[Optional[str], typer.Option(help="Column/field holding the text in CSV/JSONL/Parquet input (default: text).", rich_help_panel=TEXT)]
MinLenOpt = Annotated[Optional[int], typer.Option(help="Drop tokens shorter than this (default: 3; 1 for zh, ja, th).", rich_help_panel=TEXT)]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of the text, a spaCy code such as en, de, fr, es, ru, "
                                      "zh: its tokenizer and stop words (offline).", rich_help_panel=TEXT)]
RunLangOpt = Annotated[Optional[str], typer.Option("--lang", help="Language of the text, a spaCy code (default: the "
                                                "language the run was fitted with, else en).", rich_help_panel=TEXT)]
StopOpt = Annotated[Optional[Path], typer.Option("--stopwords-file", help="Extra stop words, one per line.", rich_help_panel=TEXT)]
LemmaOpt = Annotated[bool, typer.Option("--lemmatize/--no-lemmatize", help="Lookup lemmatisation (needs spacy-lookups-data).", rich_help_panel=TEXT)]
PhrasesOpt = Annotated[bool, typer.Option("--phrases/--no-phrases", help="Join frequent bigrams (gensim Phrases).", rich_help_panel=TEXT)]
ProcOpt = Annotated[int, typer.Option(help="Processes for tokenisation.", rich_help_panel=TEXT)]

# vocabulary: which words are kept
VocabOpt = Annotated[Optional[Path], typer.Option("--vocab", help="Vocabulary file (one word per line) for .npz/.mtx input.", rich_help_panel=VOCABULARY)]
MinDfOpt = Annotated[float, typer.Option(help="Drop words in fewer documents than this (a count >= 1, or a fraction < 1).", rich_help_panel=VOCABULARY)]
MaxDfOpt = Annotated[float, typer.Option(help="Drop words in more than this fraction of documents (or this many, if > 1).", rich_help_panel=VOCABULARY)]
MaxVocabOpt = Annotated[Optional[int], typer.Option(help="Keep at most this many words (most frequent first).", rich_help_panel=VOCABULARY)]

# device and seed
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda.", rich_help_panel=DEVICE)]
SeedOpt = Annotated[int, typer.Option(help="Random seed (same seed and device: same model).", rich_help_panel=DEVICE)]
SplitSeedOpt = Annotated[int, typer.Option(help="Seed of the document-completion split (and of the models in compare).", rich_help_panel=DEVICE)]

# output
JsonOpt = Annotated[Optional[Path], typer.Option("--json", help="Write the full results as JSON here.", rich_help_panel=OUTPUT)]
EdgeOpt = Annotated[float, typer.Option(help="Smallest parent -> child weight counted as a tree edge.", rich_help_panel=OUTPUT)]
AllTopicsOpt = Annotated[bool, typer.Option("--all-topics", help="Keep dead topics (prevalence below 1/(10 K)) "
                                            "in the printed tree and exports; topics.json always has them.", rich_help_panel=OUTPUT)]

# evaluation
RefineOpt = Annotated[int, typer.Option(help="Test-time ELBO steps refining each document's posterior "
                                             "(ggbn/gbn; 0: the encoder's mean).", rich_help_panel=EVALUATION)]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a user's mistake into one line on stderr and exit code 2 (never a traceback)."""
    try:
        yield
    except UserInputError as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        stderr.print(f"interrupted: {escape(str(exc))}" if str(exc) else "interrupted", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"), console=stderr, transient=False, disable=not stderr.is_terminal,
    )


def _text_options(min_df: float, max_df: float, max_vocab: Optional[int], min_token_len: Optional[int],
                  stopwords: Optional[Path], lemmatize: bool, phrases: bool, n_process: int, lang: str):
    from deepgbn_text.text import TextOptions

    options = TextOptions(lemmatize=lemmatize, stopwords_file=str(stopwords) if stopwords else None,
                          min_token_len=min_token_len, min_df=min_df, max_df=max_df, max_vocab=max_vocab,
                          phrases=phrases, n_process=n_process, lang=lang)
    options.validate()
    return options


def run_language(run: Path, lang: Optional[str]) -> str:
    """``lang`` when given, else the language recorded in the run's config.json (``fit --lang``), else en."""
    if lang is not None:
        return lang
    from deepgbn_text.storage.atomic import read_json_object

    config_path = Path(run) / "config.json"
    options = read_json_object(config_path).get("text_options") if config_path.is_file() else None
    recorded = options.get("lang") if isinstance(options, dict) else None
    return recorded if isinstance(recorded, str) else "en"


def _load_input(path: Path, fmt, text_column, vocab, options):
    from deepgbn_text.text import load_corpus

    with _progress() as progress:
        task = progress.add_task("reading", total=None, status="")
        corpus = load_corpus(path, fmt=fmt, text_column=text_column, vocab_path=str(vocab) if vocab else None,
                             options=options, progress=lambda n: progress.update(task, completed=n, status=f"{n} docs"))
    return corpus


def _parse_topics(topics: Optional[str]) -> Optional[list[int]]:
    if topics is None:
        return None
    try:
        return [int(part) for part in topics.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--topics must be comma-separated integers such as 128,64,32, got {topics!r}") from None


def hidden_note(tree) -> str:
    """The line saying how many dead topics ``tree`` hides ("" when none)."""
    return f"{tree.hidden_note}; --all-topics shows them" if tree.hidden_note else ""


def print_tree(tree, top_words: int) -> None:
    """Show the hierarchy with rich: top layer first, each topic's children nested below it, each topic under
    its heaviest parent only; custom topic names (``--labels``) come before the words; then how many dead
    topics the tree hides."""
    from rich.tree import Tree as RichTree

    root = RichTree(f"[bold]{tree.n_layers}-layer topic tree[/]")
    placed = tree.outline_children()

    def add(parent, node, depth: int) -> None:
        words = escape(" ".join(w for w, _ in node.words[:top_words]))
        name = f"[bold]{escape(node.name)}[/] " if node.name else ""
        branch = parent.add(f"[bold cyan]{node.id}[/] {name}[dim]{node.prevalence:.1%}[/] {words}")
        if depth < 2:
            for child, _ in placed.get(node.id, []):
                add(branch, child, depth + 1)

    for top in tree.layer(tree.n_layers):
        add(root, top, 0)
    stdout.print(root)
    if hidden_note(tree):
        stdout.print(hidden_note(tree), highlight=False, soft_wrap=True)
