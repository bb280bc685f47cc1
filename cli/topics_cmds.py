"""ggbn-topics topics / transform: export a run's topic tree, and put new documents through a model."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from deepgbn_text.errors import UserInputError

from .common import (OUTPUT, TEXT, AllTopicsOpt, DeviceOpt, LangOpt, LemmaOpt, MinLenOpt, PhrasesOpt, TextColumnOpt, app,
                     RunLangOpt, hidden_note, print_tree, run_language, stderr, stdout, user_errors)

FORMAT_HELP = "json, md, csv, dot, graphml, html, png, svg or gensim (default: from --out's suffix; none: print the tree)."


def _print_layer(tree, layer: int, top_words: int) -> None:
    table = Table(title=f"Layer {layer} topics", title_justify="left")
    for column in ("id", "label", "prevalence", "words"):
        table.add_column(column, overflow="fold")
    for node in tree.layer(layer):
        table.add_row(node.id, escape(node.label), f"{node.prevalence:.1%}",
                      escape(" ".join(w for w, _ in node.words[:top_words])))
    stdout.print(table)
    if hidden_note(tree):
        stdout.print(hidden_note(tree), highlight=False, soft_wrap=True)


@app.command()
def topics(
    run: Annotated[Path, typer.Argument(help="Run folder written by `fit`.")],
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP, rich_help_panel=OUTPUT)] = None,
    layer: Annotated[Optional[int], typer.Option("--layer", help="Only this layer's topics (md, csv, json, gensim, terminal).", rich_help_panel=OUTPUT)] = None,
    top_words: Annotated[Optional[int], typer.Option(help="Words per topic (default: as stored in topics.json).", rich_help_panel=OUTPUT)] = None,
    min_edge: Annotated[Optional[float], typer.Option(help="Smallest parent -> child weight kept (default: as stored).", rich_help_panel=OUTPUT)] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help='JSON file naming topics, e.g. {"L3-0": "religion"}.', rich_help_panel=OUTPUT)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="File to write (csv also writes <stem>.edges.csv).", rich_help_panel=OUTPUT)] = None,
    all_topics: AllTopicsOpt = False,
) -> None:
    """Show or export the topic tree of a run folder (rebuilt from the model when more words/edges are asked for).

    Dead topics (prevalence below 1/(10 K)) are left out, and counted, unless --all-topics is given; the
    gensim format keeps every topic of its layer (item i is topic i)."""
    from deepgbn_text.export import TEXT_FORMATS, check_format, export_tree, format_from_suffix, load_tree, tree_text
    from deepgbn_text.export.labels import apply_labels

    with user_errors():
        fmt = check_format(format) if format is not None else (format_from_suffix(out) if out is not None else None)
        tree = load_tree(run, top_words, min_edge)
        if labels is not None:
            tree = apply_labels(tree, labels)
        if layer is not None and fmt != "gensim":
            tree = tree.restricted_to_layer(layer)  # so that the count of hidden topics is this layer's
        if not all_topics and fmt != "gensim":
            tree = tree.without_dead()
        if fmt is None:
            if layer is not None:
                _print_layer(tree, layer, top_words or tree.top_n)
            else:
                print_tree(tree, top_words or tree.top_n)
            return
        if out is None:
            if fmt not in TEXT_FORMATS:
                raise UserInputError(f"--format {fmt} writes a file: pass --out FILE")
            sys.stdout.write(tree_text(tree, fmt, layer))
            if hidden_note(tree):
                stderr.print(hidden_note(tree), highlight=False, soft_wrap=True)
            return
        written = export_tree(tree, fmt, out, layer=layer, title=f"Topic tree — {run.resolve().name}")
    stderr.print("wrote " + ", ".join(str(p) for p in written)
                 + (f" ({hidden_note(tree)})" if hidden_note(tree) else ""), highlight=False, soft_wrap=True)


@app.command()
def transform(
    run: Annotated[Path, typer.Argument(help="Run folder written by `fit`.")],
    docs: Annotated[Path, typer.Argument(help="Documents: .txt/.txt.gz (one per line), folder of .txt, .csv, .jsonl or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="doc_topics.csv, .jsonl or .parquet (needs pyarrow).", rich_help_panel=OUTPUT)],
    top_k: Annotated[Optional[int], typer.Option(help="Write each layer's K strongest topics as topic:weight pairs instead of dense theta.", rich_help_panel=OUTPUT)] = None,
    labels_file: Annotated[Optional[Path], typer.Option("--labels-file", help="One label per document: print the labels found per dominant layer-1 topic.", rich_help_panel=OUTPUT)] = None,
    pyldavis: Annotated[Optional[Path], typer.Option("--pyldavis", help="Also write pyLDAvis prepare() inputs for layer 1 as JSON.", rich_help_panel=OUTPUT)] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Write theta as posterior means, not per-layer proportions.", rich_help_panel=OUTPUT)] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="Input format: txt, dir, csv, jsonl or parquet (default: from the name).", rich_help_panel=TEXT)] = None,
    text_column: TextColumnOpt = None,
    min_token_len: MinLenOpt = None,
    lemmatize: LemmaOpt = False,
    phrases: PhrasesOpt = False,
    device: DeviceOpt = "auto",
    lang: RunLangOpt = None,
) -> None:
    """Topic proportions of every layer and the dominant topic path for each document of DOCS."""
    from deepgbn_text.estimator import GeneralizedGBN
    from deepgbn_text.export import load_tree
    from deepgbn_text.export.doc_topics import check_output, dominant_topics, label_summary, read_doc_labels, write_doc_topics
    from deepgbn_text.export.pyldavis import write_pyldavis
    from deepgbn_text.text import TextOptions, read_documents, vectorize

    with user_errors():
        check_output(out)
        if top_k is not None and top_k < 1:
            raise UserInputError(f"--top-k must be at least 1, got {top_k}")
        if not run.is_dir():
            raise UserInputError(f"{run}: no such run folder")
        model = GeneralizedGBN.load(run, device=device)
        tree = load_tree(run)
        ids: list[str] = []

        def texts():
            for doc_id, text in read_documents(docs, format, text_column):
                ids.append(doc_id)
                yield text

        options = TextOptions(min_token_len=min_token_len, lemmatize=lemmatize, phrases=phrases,
                              lang=run_language(run, lang))
        counts = vectorize(texts(), model.vocab_, options)
        if not ids:
            raise UserInputError(f"{docs}: no documents")
        doc_labels = read_doc_labels(labels_file, len(ids)) if labels_file is not None else None
        thetas = model.transform_layers(counts)
        write_doc_topics(out, ids, thetas, tree, top_k=top_k, raw=raw)
        if pyldavis is not None:
            write_pyldavis(pyldavis, model.topic_word(1), thetas[0], counts, model.vocab_)
    empty = int((counts.getnnz(axis=1) == 0).sum())
    stderr.print(f"wrote {out}: {len(ids)} documents" + (f" ({empty} with no word of the model's vocabulary)" if empty else "")
                 + (f"; pyLDAvis inputs in {pyldavis}" if pyldavis else ""), highlight=False, soft_wrap=True)
    if doc_labels is not None:
        summary = label_summary(dominant_topics(thetas[0]), doc_labels, tree)  # layer-1 argmax, not the path
        table = Table(title=f"Labels per dominant layer-1 topic (purity {summary['purity']:.1%})", title_justify="left")
        for column in ("topic", "label", "docs", "top labels", "purity"):
            table.add_column(column, overflow="fold")
        for row in summary["topics"]:
            tops = ", ".join(f"{escape(lab)} {c}" for lab, c in row["top_labels"])
            table.add_row(row["topic"], escape(row["label"]), str(row["docs"]), tops, f"{row['purity']:.0%}")
        stdout.print(table)
