"""--lang: spaCy's blank tokenizer and stop words of other languages (German, French, Spanish, Russian,
Chinese), accents and scripts kept, vocabularies saved and read back as UTF-8; missing segmenters and
unknown codes are one line."""
from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from deepgbn_text import Corpus, UserInputError
from ggbn_topics.app import app
from deepgbn_text.text import TextOptions, build_corpus, vectorize

ALL = dict(min_df=1, max_df=1.0, max_vocab=None)
TEXTS = {
    "de": (["Die Bäume im Wald wachsen über den Fluss.", "Der Fluss und die Brücke sind schön."],
           {"bäume", "wald", "wachsen", "fluss", "brücke", "schön"}, {"die", "der", "und", "sind", "über"}),
    "fr": (["L'été est très chaud à Paris.", "Les élèves écoutent la maîtresse à l'école."],
           {"été", "chaud", "paris", "élèves", "écoutent", "maîtresse", "école"}, {"les", "est", "très"}),
    "es": (["El niño comió una manzana en la montaña.", "La canción del año suena en España."],
           {"niño", "comió", "manzana", "montaña", "canción", "año", "suena", "españa"}, {"una", "del", "el", "la"}),
    "ru": (["Мы читали книгу о зимнем лесе.", "Это была очень интересная книга."],
           {"читали", "книгу", "зимнем", "лесе", "интересная", "книга"}, {"это", "была", "очень"}),
    "zh": (["我们喜欢学习中文。", "他们在北京学习历史。"],
           {"喜", "欢", "学", "习", "北", "京", "史"}, {"我", "们", "的", "在", "他"}),
}


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_stop_words_dropped_and_letters_kept(lang, tmp_path):
    texts, expected, stop = TEXTS[lang]
    corpus = build_corpus(texts, TextOptions(lang=lang, **ALL))
    vocab = set(corpus.vocab)
    assert expected <= vocab, expected - vocab
    assert not vocab & stop
    corpus.save(tmp_path / "corpus")
    text = (tmp_path / "corpus" / "vocab.txt").read_bytes().decode("utf-8")
    assert set(text.split()) == vocab
    assert Corpus.load(tmp_path / "corpus").vocab == corpus.vocab


def test_english_stays_the_default():
    assert TextOptions().lang == "en"
    assert build_corpus(["the cats and the dogs"], TextOptions(**ALL)).vocab == ["cats", "dogs"]


def test_vectorize_uses_the_same_language():
    options = TextOptions(lang="de", **ALL)
    corpus = build_corpus(TEXTS["de"][0], options)
    counts = vectorize(["Die Brücke über den Fluss"], corpus.vocab, options)
    assert sorted(corpus.vocab[j] for j in counts.indices) == ["brücke", "fluss"]


def test_character_languages_keep_single_characters_by_default():
    assert TextOptions(lang="zh").min_length == 1 and TextOptions(lang="de").min_length == 3
    assert TextOptions(lang="zh", min_token_len=2).min_length == 2


@pytest.mark.parametrize("lang, match", [
    ("qq", "--lang qq: spaCy has no language of that code"),
    ("de fr", "--lang must be a language code"),
])
def test_unknown_language_is_one_line(lang, match):
    with pytest.raises(UserInputError, match=match):
        build_corpus(["Text"], TextOptions(lang=lang, **ALL))


@pytest.mark.skipif(importlib.util.find_spec("sudachipy") is not None, reason="SudachiPy is installed")
def test_missing_segmenter_names_the_package_on_the_command_line(tmp_path):
    docs = tmp_path / "ja.txt"
    docs.write_text("東京に行きます\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["prepare", str(docs), "--out", str(tmp_path / "c"), "--lang", "ja"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--lang ja:" in result.stderr and "SudachiPy" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_prepare_with_lang_on_the_command_line(tmp_path):
    docs = tmp_path / "fr.txt"
    docs.write_text("\n".join(TEXTS["fr"][0]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["prepare", str(docs), "--out", str(tmp_path / "c"), "--lang", "fr",
                                      "--min-df", "1", "--max-df", "1.0"])
    assert result.exit_code == 0, result.output
    assert {"été", "école"} <= set(Corpus.load(tmp_path / "c").vocab)


def test_evaluate_and_transform_read_the_run_s_language(tmp_path):
    import json

    from ggbn_topics.common import run_language

    (tmp_path / "config.json").write_text(json.dumps({"text_options": {"lang": "de"}}), encoding="utf-8")
    assert run_language(tmp_path, None) == "de"
    assert run_language(tmp_path, "fr") == "fr"
    assert run_language(tmp_path / "missing", None) == "en"
