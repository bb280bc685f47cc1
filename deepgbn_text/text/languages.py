"""spaCy's blank pipelines per language (offline): tokenizer, stop words and lookup lemmas.

Any language spaCy knows works by its ISO code (``en``, ``de``, ``fr``, ``es``, ``ru``, ``zh``, ...).
Chinese is cut into characters by spaCy's built-in segmenter; Japanese, Thai, Korean and Vietnamese
need a segmenter package, and without it the error names the package (one line, no traceback).
"""
from __future__ import annotations

import functools

from ..errors import UserInputError

DEFAULT_LANGUAGE = "en"
CHARACTER_LANGUAGES = frozenset({"zh", "ja", "th"})
"""Written without spaces: their segmenters give short words, so the default --min-token-len is 1."""
DEFAULT_MIN_TOKEN_LEN = 3


def default_min_token_len(lang: str) -> int:
    """The shortest token kept when --min-token-len is not given: 1 for zh, ja and th, else 3."""
    return 1 if lang in CHARACTER_LANGUAGES else DEFAULT_MIN_TOKEN_LEN


def check_language(lang: object) -> str:
    """``lang`` if it looks like a language code (whether spaCy has it is checked when a pipeline is
    built, so that reading a prepared corpus never imports spaCy)."""
    if not isinstance(lang, str) or not lang.isascii() or not lang.replace("-", "").isalpha():
        raise UserInputError(f"--lang must be a language code such as en, de, fr, es, ru or zh (got {lang!r})")
    return lang


@functools.lru_cache(maxsize=None)
def blank_pipeline(lang: str, lemmatize: bool, max_length: int):  # type: ignore[no-untyped-def]
    """spaCy's blank pipeline of ``lang`` and, with ``lemmatize``, its lookup-lemma table: one per
    setting and process, shared by every Tokenizer and never freed. Building a pipeline per option set
    was wasteful; and one full test run died in a segfault (cause not found, not reproduced in about 30
    reruns) during a property test that built and dropped many of them."""
    import spacy
    from spacy.util import get_lang_class

    try:
        get_lang_class(check_language(lang))
    except (ImportError, KeyError):
        raise UserInputError(f"--lang {lang}: spaCy has no language of that code; use an ISO code such as "
                             "en, de, fr, es, ru or zh") from None
    try:
        nlp = spacy.blank(lang)
    except ImportError as exc:  # the language's segmenter is a separate package
        raise UserInputError(f"--lang {lang}: {' '.join(str(exc).split())}") from None
    nlp.max_length = max(nlp.max_length, max_length)
    return nlp, (_lemma_table(nlp) if lemmatize else None)


def stop_words(nlp) -> set[str]:  # type: ignore[no-untyped-def]
    """spaCy's stop words of the pipeline's language (empty for a language without a list)."""
    return set(nlp.Defaults.stop_words)


def _lemma_table(nlp):  # type: ignore[no-untyped-def]
    try:
        import spacy_lookups_data  # noqa: F401
    except ImportError:
        raise UserInputError(
            "--lemmatize needs the spacy-lookups-data package: pip install spacy-lookups-data "
            "(or pip install 'deepgbn-text[lemmas]')"
        ) from None
    lemmatizer = nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    try:
        nlp.initialize()
    except Exception as exc:  # spaCy raises various errors when its lookup tables are missing
        reason = " ".join(str(exc).split())
        raise UserInputError(f"--lemmatize: cannot load spaCy's lookup lemmas for --lang {nlp.lang} ({reason}); "
                             "leave --lemmatize out") from None
    # Lemmas are looked up on the lower-cased token ourselves (spaCy's pipe looks up the original
    # case, so "Running" would stay unchanged); the pipe itself is therefore not run on documents.
    nlp.disable_pipe("lemmatizer")
    return lemmatizer.lookups.get_table("lemma_lookup")
