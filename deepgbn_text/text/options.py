"""TextOptions: how raw text becomes a bag of words (tokenisation and vocabulary filtering)."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from .languages import DEFAULT_LANGUAGE, check_language, default_min_token_len


def _is_whole(value: float) -> bool:
    return float(value).is_integer()


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass
class TextOptions:
    """Options of the text pipeline; :meth:`validate` checks them and names the CLI option at fault."""

    lemmatize: bool = False  # spaCy lookup lemmatiser (needs spacy-lookups-data)
    stopwords_file: str | None = None  # extra stop words, one per line, added to spaCy's list for ``lang``
    min_token_len: int | None = None  # None: 3, or 1 for languages written without spaces (zh, ja, th)
    min_df: float = 5  # >= 1: document count; in (0, 1): fraction of documents
    max_df: float = 0.5  # in (0, 1]: fraction of documents; > 1: document count
    max_vocab: int | None = 10000  # keep the most frequent words (document frequency, ties by word)
    phrases: bool = False  # gensim Phrases bigrams (two passes over the input)
    phrase_min_count: int = 5
    phrase_threshold: float = 10.0
    n_process: int = 1  # nlp.pipe n_process
    batch_size: int = 256  # nlp.pipe batch size
    lang: str = DEFAULT_LANGUAGE  # spaCy language code: its blank tokenizer and stop words

    def validate(self) -> None:
        """Raise UserInputError (one line, naming the option) if an option is out of range."""
        check_language(self.lang)
        if self.min_token_len is not None and (not _is_int(self.min_token_len) or self.min_token_len < 1):
            raise UserInputError(f"--min-token-len must be a whole number >= 1 (got {self.min_token_len!r})")
        min_df = _number("--min-df", self.min_df)
        if min_df >= 1:
            if not _is_whole(min_df):
                raise UserInputError(
                    f"--min-df must be a whole number of documents (>= 1) or a fraction in (0, 1) (got {self.min_df!r})"
                )
        elif min_df <= 0:
            raise UserInputError(
                f"--min-df must be a whole number of documents (>= 1) or a fraction in (0, 1) (got {self.min_df!r})"
            )
        max_df = _number("--max-df", self.max_df)
        if max_df <= 0 or (max_df > 1 and not _is_whole(max_df)):
            raise UserInputError(
                f"--max-df must be a fraction in (0, 1] or a whole number of documents > 1 (got {self.max_df!r})"
            )
        if min_df >= 1 and max_df > 1 and min_df > max_df:
            raise UserInputError(f"--min-df ({self.min_df}) must not exceed --max-df ({self.max_df})")
        if min_df < 1 and max_df <= 1 and min_df > max_df:
            raise UserInputError(f"--min-df ({self.min_df}) must not exceed --max-df ({self.max_df})")
        if self.max_vocab is not None and (not _is_int(self.max_vocab) or self.max_vocab < 1):
            raise UserInputError(f"--max-vocab must be a whole number >= 1 or left out (got {self.max_vocab!r})")
        if not _is_int(self.phrase_min_count) or self.phrase_min_count < 1:
            raise UserInputError(f"--phrase-min-count must be a whole number >= 1 (got {self.phrase_min_count!r})")
        if _number("--phrase-threshold", self.phrase_threshold) <= 0:
            raise UserInputError(f"--phrase-threshold must be > 0 (got {self.phrase_threshold!r})")
        if not _is_int(self.n_process) or (self.n_process < 1 and self.n_process != -1):
            raise UserInputError(f"--n-process must be a whole number >= 1, or -1 for all CPUs (got {self.n_process!r})")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise UserInputError(f"--batch-size must be a whole number >= 1 (got {self.batch_size!r})")
        if self.stopwords_file is not None and not Path(self.stopwords_file).is_file():
            raise UserInputError(f"--stopwords-file {self.stopwords_file}: file not found")

    @property
    def min_length(self) -> int:
        """The shortest token kept: ``min_token_len``, or the language's default when it is None."""
        return default_min_token_len(self.lang) if self.min_token_len is None else self.min_token_len

    def doc_count_bounds(self, n_docs: int) -> tuple[int, int]:
        """The smallest and largest document frequency a kept word may have, for ``n_docs`` documents."""
        min_df = float(self.min_df)
        low = int(min_df) if min_df >= 1 else math.ceil(min_df * n_docs - 1e-9)
        max_df = float(self.max_df)
        high = int(max_df) if max_df > 1 else math.floor(max_df * n_docs + 1e-9)
        return max(low, 1), high


def _number(option: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise UserInputError(f"{option} must be a number (got {value!r})")
    return float(value)
