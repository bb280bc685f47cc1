"""Fit one GeneralizedGBN configuration on 20 Newsgroups (bydate) and score test document completion.

    python benchmarks/twenty_news.py --topics 50,25,12 --link linear --json out.json

Vocabulary: scikit-learn CountVectorizer on the training split (V = --vocab most frequent words of
3+ letters, English stop words removed, min_df 5, max_df 0.5), so the numbers do not depend on the
spaCy pipeline. Test perplexity: 80% of each test document's tokens observed, 20% held out (seed 0),
theta = encoder mean. Needs ../shared/corpora/20news. Prints one JSON line and a few topics.
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer

from deepgbn_text import Corpus, GeneralizedGBN
from deepgbn_text.evaluate import completion_perplexity, completion_split

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "20news"


def load(data: Path, vocab_size: int) -> tuple[Corpus, Corpus]:
    def lines(name: str) -> list[str]:
        with gzip.open(data / name, "rt", encoding="utf-8") as fh:
            return fh.read().splitlines()

    vectorizer = CountVectorizer(max_features=vocab_size, stop_words="english", min_df=5, max_df=0.5,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b")
    train = vectorizer.fit_transform(lines("train.txt.gz"))
    test = vectorizer.transform(lines("test.txt.gz"))
    vocab = list(vectorizer.get_feature_names_out())
    return Corpus(train, vocab), Corpus(test, vocab).nonempty()


class RefinedScorer:
    """The model's word distributions with ``steps`` test-time refinement steps."""

    def __init__(self, model: GeneralizedGBN, steps: int) -> None:
        self.model, self.steps = model, steps

    def word_distribution(self, observed):  # type: ignore[no-untyped-def]
        return self.model.word_distribution(observed, refine_steps=self.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--topics", default="128,64,32")
    parser.add_argument("--link", default="nonlinear")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--refine-steps", default="0", help="comma-separated: test-time ELBO steps to report")
    parser.add_argument("--save", type=Path, help="also save the fitted model here")
    parser.add_argument("--load", type=Path, help="score a saved model instead of fitting one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train, test = load(args.data, args.vocab)
    topics = [int(k) for k in args.topics.split(",")]
    started = time.perf_counter()
    if args.load:
        model = GeneralizedGBN.load(args.load, device=args.device)
    else:
        model = GeneralizedGBN(n_topics=topics, n_layers=len(topics), link=args.link, batch_size=args.batch_size,
                               epochs=args.epochs, seed=args.seed, device=args.device).fit(train)
        if args.save:
            model.save(args.save)
    seconds = time.perf_counter() - started
    observed, heldout = completion_split(test.counts, 0.2, seed=0)
    result = {"topics": model.topics_, "link": model.link, "vocab": args.vocab, "batch_size": model.batch_size,
              "seed": model.seed, "device": str(model.device_), "fit_seconds": round(seconds, 1)}
    if not args.load:
        result["epochs_run"] = len(model.history_)
    for steps in (int(s) for s in args.refine_steps.split(",")):
        started = time.perf_counter()
        scorer = RefinedScorer(model, steps)
        result[f"test_perplexity_refine{steps}"] = round(completion_perplexity(scorer, observed, heldout), 1)
        result[f"score_seconds_refine{steps}"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))
    for layer in range(1, len(topics) + 1):
        for words in model.topics(layer, 8)[:3]:
            print(f"  layer {layer}: " + " ".join(w for w, _ in words))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
