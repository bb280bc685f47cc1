"""Tokenise text with spaCy's blank tokenizer of the chosen language (offline) and filter tokens.

A token is kept, lower-cased (and optionally lemmatised with spaCy's lookup tables), unless it is
white space, punctuation, number-like, a URL or e-mail address, contains a digit or a control
character, has no letter, is a stop word of the language, is shorter than ``min_token_len`` or longer than
``MAX_TOKEN_CHARS`` (no word is; such tokens are encoded data, markup or a text without spaces).
The decision depends only on the token's text, so it is cached per spaCy orth id. Long texts are cut
at white space into chunks of at most ``CHUNK_CHARS`` characters before the tokenizer, so a line of
any length is tokenised piece by piece. Lone surrogates (not Unicode) become U+FFFD first.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import UserInputError
from .languages import blank_pipeline, stop_words
from .options import TextOptions
from .readers import LONE_SURROGATE

CHUNK_CHARS = 100_000
MAX_TOKEN_CHARS = 50
PHRASE_DELIMITER = "_"


def split_long_text(text: str, limit: int = CHUNK_CHARS) -> Iterator[str]:
    """Yield pieces of ``text`` of at most ``limit`` characters, cut at white space when possible."""
    n = len(text)
    if n <= limit:
        yield text
        return
    pos = 0
    while pos < n:
        end = pos + limit
        if end >= n:
            yield text[pos:]
            return
        cut = max(text.rfind(" ", pos, end), text.rfind("\n", pos, end), text.rfind("\t", pos, end))
        if cut <= pos:
            cut = end  # one "word" longer than the limit: cut it
        yield text[pos:cut]
        pos = cut


def _has_control(word: str) -> bool:
    """Whether ``word`` holds a control character (Unicode category Cc, such as NUL or ESC)."""
    return any(unicodedata.category(c) == "Cc" for c in word)


def read_stopwords(path: str | Path) -> set[str]:
    """Extra stop words: one per line, lower-cased; blank lines and lines starting with '#' are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserInputError(f"--stopwords-file {path}: file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"--stopwords-file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserInputError(f"--stopwords-file {path}: cannot read the file ({exc.strerror or exc})") from None
    return {w.strip().lower() for w in lines if w.strip() and not w.strip().startswith("#")}


class Tokenizer:
    """Turns texts into filtered token lists with spaCy's blank pipeline of ``options.lang``."""

    def __init__(self, options: TextOptions | None = None) -> None:
        self.options = options or TextOptions()
        self.options.validate()
        self.nlp, self._lemmas = blank_pipeline(self.options.lang, self.options.lemmatize, 2 * CHUNK_CHARS)
        self.stop_words = stop_words(self.nlp)
        if self.options.stopwords_file:
            self.stop_words |= read_stopwords(self.options.stopwords_file)
        self.min_len = self.options.min_length
        self._cache: dict[int, str | None] = {}

    # -- single tokens

    def _decide(self, orth: int) -> str | None:
        lex = self.nlp.vocab[orth]
        if lex.is_space or lex.is_punct or lex.like_num or lex.like_url or lex.like_email:
            return None
        word = lex.lower_
        if any(c.isdigit() for c in word) or not any(c.isalpha() for c in word) or _has_control(word):
            return None
        if word in self.stop_words:
            return None
        if self._lemmas is not None:
            lemma = self._lemmas.get(word, word)
            word = lemma.lower() if isinstance(lemma, str) and lemma else word
            if word in self.stop_words:
                return None
        if not self.min_len <= len(word) <= MAX_TOKEN_CHARS:
            return None
        return word

    def _filter(self, doc) -> list[str]:  # type: ignore[no-untyped-def]
        from spacy.attrs import ORTH

        if len(doc) == 0:
            return []
        cache = self._cache
        out = []
        for orth in doc.to_array(ORTH).tolist():
            word = cache.get(orth, "")
            if word == "":
                word = cache[orth] = self._decide(orth)
            if word is not None:
                out.append(word)
        return out

    # -- streams

    def stream_chunks(self, texts: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(doc_index, tokens)`` per chunk, in order; every document yields at least one item."""

        def chunks() -> Iterator[tuple[str, int]]:
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(f"document {i}: expected str, got {type(text).__name__}")
                text = LONE_SURROGATE.sub("\ufffd", text)  # spaCy cannot hash them
                for piece in split_long_text(text):
                    yield piece, i

        docs = self.nlp.pipe(
            chunks(), as_tuples=True, batch_size=self.options.batch_size, n_process=self.options.n_process
        )
        for doc, i in docs:
            yield i, self._filter(doc)

    def tokens(self, text: str) -> list[str]:
        """The filtered tokens of one text."""
        out: list[str] = []
        for _, toks in self.stream_chunks([text]):
            out.extend(toks)
        return out
