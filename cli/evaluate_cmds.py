"""ggbn-topics evaluate / compare."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from deepgbn_text.errors import UserInputError

from .common import (EVALUATION, MODEL, OUTPUT, TRAINING, DeviceOpt, EdgeOpt, FormatOpt, InputArg, JsonOpt, LangOpt,
                     LemmaOpt, MaxDfOpt, MaxVocabOpt, MinDfOpt, MinLenOpt, PhrasesOpt, ProcOpt, RefineOpt, SplitSeedOpt,
                     RunLangOpt, StopOpt, TextColumnOpt, VocabOpt, _load_input, _parse_topics, _setup_logging, _text_options, app,
                     run_language, stderr, stdout, user_errors)


def _read_texts(path: Path, text_column: Optional[str]) -> list[str]:
    from deepgbn_text.text import read_documents

    return [text for _, text in read_documents(path, None, text_column)]


def _vectorize_file(path: Path, vocab: list[str], options, text_column: Optional[str]):  # type: ignore[no-untyped-def]
    """Counts of ``path`` (one document per line, or csv/jsonl/a folder) in ``vocab``, rows in file order."""
    from deepgbn_text.text import vectorize

    texts = _read_texts(path, text_column)
    if not texts:
        raise UserInputError(f"{path}: no documents")
    return vectorize(texts, vocab, options)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _write_json(path: Optional[Path], obj: Any) -> None:
    if path is not None:
        from deepgbn_text.storage.atomic import write_json

        write_json(path, obj)
        stderr.print(f"wrote {escape(str(path))}", highlight=False)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `fit` (or a folder written by save()).")],
    test: Annotated[Path, typer.Option("--test", help="Test documents, one per line (.txt/.txt.gz; or .csv/.jsonl/folder).")],
    reference: Annotated[Optional[Path], typer.Option(help="Reference documents for coherence, e.g. the training text "
                                                           "(default: the test documents).", rich_help_panel=EVALUATION)] = None,
    json_out: JsonOpt = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Labels of the --reference documents, one per line "
                                                                     "(for the classifier's training side).", rich_help_panel=EVALUATION)] = None,
    test_labels: Annotated[Optional[Path], typer.Option("--test-labels", help="Labels of the test documents, one per line.", rich_help_panel=EVALUATION)] = None,
    seed: SplitSeedOpt = 0,
    top_words: Annotated[int, typer.Option(help="Top words per topic for NPMI, C_V and UMass.", rich_help_panel=EVALUATION)] = 10,
    min_edge: EdgeOpt = 0.05,
    device: DeviceOpt = "auto",
    refine_steps: RefineOpt = 0,
    text_column: TextColumnOpt = None,
    min_token_len: MinLenOpt = None,
    stopwords: StopOpt = None,
    lemmatize: LemmaOpt = False,
    phrases: PhrasesOpt = False,
    n_process: ProcOpt = 1,
    lang: RunLangOpt = None,
) -> None:
    """Score a fitted model on TEST: perplexity, coherence, diversity and hierarchy metrics per layer."""
    from deepgbn_text import GeneralizedGBN
    from deepgbn_text.evaluate import evaluate_model, read_labels

    _setup_logging()
    with user_errors():
        if top_words < 2:
            raise UserInputError(f"--top-words must be at least 2, got {top_words}")
        if not 0 < min_edge <= 1:
            raise UserInputError(f"--min-edge must be in (0, 1], got {min_edge}")
        if labels is not None and reference is None:
            raise UserInputError("--labels labels the --reference documents (the training text); give --reference too")
        if labels is not None and test_labels is None:
            raise UserInputError("--labels needs --test-labels (the classifier is scored on the test documents)")
        options = _text_options(1, 1.0, None, min_token_len, stopwords, lemmatize, phrases, n_process,
                                run_language(run, lang))
        model = GeneralizedGBN.load(run, device=device)
        model.refine_steps = refine_steps
        model.validate_params()
        test_counts = _vectorize_file(test, model.vocab_, options, text_column)
        ref_counts = _vectorize_file(reference, model.vocab_, options, text_column) if reference else None
        y_test = read_labels(test_labels, test_counts.shape[0]) if test_labels else None
        y_train = read_labels(labels, ref_counts.shape[0]) if labels else None
        result = evaluate_model(model, test_counts, ref_counts, reference_name=f"reference file {reference}" if reference
                                else "test documents", seed=seed, top_n=top_words, min_edge=min_edge,
                                train_counts=ref_counts if y_train is not None else None,
                                train_labels=y_train, test_labels=y_test)
        result["run"] = str(run)
        result["test"] = str(test)
        _write_json(json_out, result)
    protocol = result["protocol"]
    table = Table(title=f"{escape(str(run))}: {protocol['n_test_docs']} test documents", title_justify="left")
    columns = ["layer", "K", "perplexity", "NPMI", "C_V", "UMass", "TD", "TQ", "near-dup", "dead", "spec", "PC-NPMI",
               "sib TD", "PCC", "PCD", "SD", "PnCD"]
    keys = ["layer", "n_topics", "perplexity", "npmi", "c_v", "u_mass", "td", "tq", "near_duplicate_share",
            "dead_topic_share", "specialisation", "parent_child_npmi", "sibling_diversity", "pcc", "pcd", "sd", "pncd"]
    for extra, key in (("purity", "purity"), ("NMI", "nmi"), ("acc", "accuracy")):
        if key in result["layers"][0]:
            columns.append(extra)
            keys.append(key)
    for name in columns:
        table.add_column(name, justify="right")
    for record in result["layers"]:
        table.add_row(*[str(record[k]) if k in ("layer", "n_topics") else
                        _num(record.get(k), 1 if k == "perplexity" else 3) for k in keys])
    stdout.print(table)
    if reference is None:
        stdout.print("note: no --reference given, so coherence (NPMI, C_V, UMass) used the test documents as the "
                     "reference corpus", highlight=False, soft_wrap=True)
    stdout.print(f"perplexity: document completion, {protocol['heldout_fraction']:.0%} of each test document held out "
                 f"(seed {protocol['split_seed']}), {protocol['n_heldout_tokens']} held-out tokens; theta = "
                 f"{protocol['inference']}. Layer 1 = the whole model; layer l = words reconstructed from layer l. "
                 f"near-dup: share of topics whose top-{protocol['coherence_top_n']} set has Jaccard > 0.5 with "
                 f"another of the layer; dead: share with prevalence < 1/(10 K); spec: mean cosine distance from the "
                 f"reference's word distribution. PC-NPMI / sib TD: parent-child NPMI and sibling diversity to the "
                 f"layer below; PCC, PCD, SD, PnCD: TraCo's hierarchy metrics (top {protocol['hierarchy_top_n']} "
                 f"words); edges >= {protocol['min_edge']}.", highlight=False, soft_wrap=True)


@app.command()
def compare(
    corpus: InputArg,
    test: Annotated[Optional[Path], typer.Option("--test", help="Test documents (default: hold out 20% of CORPUS).", rich_help_panel=EVALUATION)] = None,
    reference: Annotated[Optional[Path], typer.Option(help="External reference documents for coherence "
                                                           "(default: the training documents).", rich_help_panel=EVALUATION)] = None,
    models: Annotated[str, typer.Option(help="Comma-separated: ggbn, gbn, lda-sklearn, lda-gensim, lda-tomotopy, "
                                              "hlda-tomotopy, pam-tomotopy, hpam-tomotopy.", rich_help_panel=MODEL)] =
        "ggbn,gbn,lda-sklearn,lda-gensim",
    layers: Annotated[int, typer.Option("--layers", help="Layers of ggbn/gbn and depth of hlda-tomotopy.", rich_help_panel=MODEL)] = 3,
    topics: Annotated[Optional[str], typer.Option(help="Widths per layer, bottom first; LDA uses the first, "
                                                       "pam/hpam the first two (sub-, super-topics) "
                                                       "(default: 128, a quarter per layer twice, then half).", rich_help_panel=MODEL)] = None,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs of ggbn/gbn.", rich_help_panel=TRAINING)] = 300,
    hidden: Annotated[int, typer.Option(help="Encoder and link hidden width of ggbn/gbn.", rich_help_panel=MODEL)] = 256,
    batch_size: Annotated[Optional[int], typer.Option(help="Documents per minibatch (ggbn/gbn; default: 64, 128 or "
                          "256 by the corpus size, as fit).", rich_help_panel=TRAINING)] = None,
    seed: SplitSeedOpt = 0,
    device: DeviceOpt = "auto",
    refine_steps: RefineOpt = 0,
    json_out: JsonOpt = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG of perplexity and NPMI per model, "
                                                 "and TD per level and PCD per pair of layers, here.", rich_help_panel=OUTPUT)] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write the table as markdown here.", rich_help_panel=OUTPUT)] = None,
    save_trees: Annotated[Optional[Path], typer.Option("--save-trees", help="Write each model's tree here as "
                                                       "<model>/topics.json (open with `ggbn-topics topics DIR/<model>`).", rich_help_panel=OUTPUT)] = None,
    min_edge: EdgeOpt = 0.05,
    gibbs_iterations: Annotated[int, typer.Option(help="Gibbs sweeps of the tomotopy models (lda, hlda, pam, hpam).", rich_help_panel=TRAINING)] = 1000,
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
    """Fit several models on the same vocabulary and split; score them all with the same evaluator.

    Prints a layer-1 summary, one table per level (1 = the most specific) and a hierarchy table
    (PCC, PCD, SD, PnCD per pair of adjacent layers)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from deepgbn_text.estimator import default_topics
    from deepgbn_text.evaluate.report import (HIERARCHY_COLUMNS, LEVEL_COLUMNS, compare_models, comparison_markdown,
                                              hierarchy_rows, level_rows, parse_models, plot_comparison)

    _setup_logging()
    with user_errors():
        names = parse_models(models)
        widths = _parse_topics(topics) or default_topics(layers)
        if len(widths) != layers:
            raise UserInputError(f"--topics gives {len(widths)} widths but --layers is {layers}; give one width per layer")
        if not 0 < min_edge <= 1:
            raise UserInputError(f"--min-edge must be in (0, 1], got {min_edge}")
        if gibbs_iterations < 1:
            raise UserInputError(f"--gibbs-iterations must be at least 1, got {gibbs_iterations}")
        if tomotopy_models := [name for name in names if name.endswith("-tomotopy")]:
            from deepgbn_text.model.lda_start import import_tomotopy

            import_tomotopy(tomotopy_models[0])
        for path in (test, reference):
            if path is not None and not path.exists():
                raise UserInputError(f"{path}: file not found")
        options = _text_options(min_df, max_df, max_vocab, min_token_len, stopwords, lemmatize, phrases, n_process, lang)
        data = _load_input(corpus, format, text_column, vocab, options).nonempty()
        if test is None:
            if data.n_docs < 10:
                raise UserInputError(f"{corpus}: {data.n_docs} non-empty documents; too few to hold out 20% for testing")
            train_rows, test_rows = train_test_split(np.arange(data.n_docs), test_size=0.2, random_state=seed)
            train, test_counts = data.subset(np.sort(train_rows)), data.counts[np.sort(test_rows)]
            split = "20% of CORPUS held out (train_test_split, random_state = seed)"
        else:
            train, test_counts = data, _load_test(test, data.vocab, options, text_column)
            split = f"test file {test}"
        stderr.print(f"vocabulary {train.n_words} words; {train.n_docs} training documents, "
                     f"{test_counts.shape[0]} test documents ({escape(split)})", highlight=False, soft_wrap=True)

        def on_model(name: str, stage: str) -> None:
            if stage != "done":
                stderr.print(f"{name}: {'fitting' if stage == 'fit' else 'evaluating'}", highlight=False)

        ref_counts = _vectorize_file(reference, train.vocab, options, text_column) if reference else None
        comparison = compare_models(train, test_counts, names, widths, epochs=epochs, seed=seed, hidden=hidden,
                                    batch_size=batch_size, device=device, refine_steps=refine_steps,
                                    on_model=on_model, reference=ref_counts, save_trees=save_trees, min_edge=min_edge,
                                    model_options={name: {"iterations": gibbs_iterations} for name in names
                                                      if name.endswith("-tomotopy")},
                                    reference_name=f"reference file {reference}" if reference else "training documents")
        comparison["data"] |= {"corpus": str(corpus), "split": split}
        _write_json(json_out, comparison)
        if plot is not None:
            plot_comparison(comparison, plot)
            stderr.print(f"wrote {escape(str(plot))}", highlight=False)
        if markdown is not None:
            from deepgbn_text.storage.atomic import write_text

            write_text(markdown, comparison_markdown(comparison))
            stderr.print(f"wrote {escape(str(markdown))}", highlight=False)
        if save_trees is not None:
            stderr.print(f"wrote {len(comparison['results'])} trees in {escape(str(save_trees))}", highlight=False)
    table = Table(title="same vocabulary, split and evaluator", title_justify="left")
    for name in ("model", "layers", "perplexity", "NPMI", "C_V", "TD", "fit s"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for result in comparison["results"]:
        first = result["layers"][0]
        table.add_row(result["model"], str(result["n_layers"]), _num(first["perplexity"], 1), _num(first["npmi"]),
                      _num(first.get("c_v")), _num(first["td"]), _num(result["fit_seconds"], 1))
    stdout.print(table)
    protocol = comparison["protocol"]
    stdout.print(f"layer-1 scores; perplexity: document completion, {protocol['heldout_fraction']:.0%} held out "
                 f"(seed {protocol['split_seed']}); coherence reference: {protocol['coherence_reference']}",
                 highlight=False, soft_wrap=True)
    for level, rows in level_rows(comparison).items():
        table = Table(title=f"level {level}{' (most specific)' if level == 1 else ''}", title_justify="left")
        table.add_column("model")
        for heading, _, _ in LEVEL_COLUMNS:
            table.add_column(heading, justify="right")
        for row in rows:
            table.add_row(row["model"], *[_cell(row.get(key), digits) for _, key, digits in LEVEL_COLUMNS])
        stdout.print(table)
    hier = hierarchy_rows(comparison)
    if hier:
        table = Table(title="hierarchy (parent level > child level; tree: TraCo's averages)", title_justify="left")
        table.add_column("model")
        table.add_column("pair")
        for heading, _, _ in HIERARCHY_COLUMNS:
            table.add_column(heading, justify="right")
        for row in hier:
            table.add_row(row["model"], row["pair"], *[_cell(row.get(key), digits) for _, key, digits in HIERARCHY_COLUMNS])
        stdout.print(table)
        stdout.print(f"near-dup: top-{protocol['coherence_top_n']} Jaccard > 0.5 with another topic of the level; "
                     f"dead: prevalence < 1/(10 K); spec: cosine distance from the corpus word distribution; "
                     f"PCC/PCD/SD/PnCD: TraCo's parent-child coherence and diversity, sibling diversity and "
                     f"parent vs non-child diversity (top {protocol['hierarchy_top_n']} words, edges >= "
                     f"{protocol['min_edge']}); perplexity '-': the model predicts words with all its levels only",
                     highlight=False, soft_wrap=True)


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return str(int(value))
    return f"{float(value):.{digits}f}"


def _load_test(path: Path, vocab: list[str], options, text_column: Optional[str]):  # type: ignore[no-untyped-def]
    """Test counts in the training vocabulary: text is vectorised; a count matrix must share the vocabulary."""
    from deepgbn_text.text import detect_format, load_corpus
    from deepgbn_text.text.readers import TEXT_FORMATS

    if detect_format(path) in TEXT_FORMATS:
        return _vectorize_file(path, vocab, options, text_column)
    other = load_corpus(path)
    if other.vocab != vocab:
        raise UserInputError(f"{path}: its vocabulary differs from CORPUS's; give the test set as text, or as counts "
                             "in the same vocabulary")
    return other.counts
