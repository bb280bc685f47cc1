"""How ``20news-sample.txt.gz`` and ``20news-sample.labels`` were made (not used at run time).

Source: the 20 Newsgroups "bydate" training split, one document per line with headers, footers and
quotes removed (``train.txt.gz``), and its labels (``train.labels``, one newsgroup name per line).
Among the documents with at least 40 whitespace-separated words, 100 documents per label are drawn
without replacement with ``numpy.random.default_rng(0)`` (labels taken in sorted order, one
``rng.choice`` call each), and the 2,000 chosen documents are written in their original order.

Run from the repository root::

    python corpora/make_sample.py /work/shared/corpora/20news corpora
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

PER_LABEL = 100
MIN_WORDS = 40
SEED = 0


def make_sample(source: Path, out: Path, name: str = "20news-sample") -> None:
    import numpy as np

    with gzip.open(source / "train.txt.gz", "rt", encoding="utf-8") as fh:
        docs = [line.rstrip("\n") for line in fh]
    labels = (source / "train.labels").read_text(encoding="utf-8").splitlines()
    assert len(docs) == len(labels), (len(docs), len(labels))
    rng = np.random.default_rng(SEED)
    chosen: list[int] = []
    for label in sorted(set(labels)):
        eligible = [i for i, (d, lab) in enumerate(zip(docs, labels)) if lab == label and len(d.split()) >= MIN_WORDS]
        chosen.extend(rng.choice(eligible, size=PER_LABEL, replace=False).tolist())
    chosen.sort()
    with gzip.GzipFile(out / f"{name}.txt.gz", "wb", compresslevel=9, mtime=0) as gz:
        gz.write("".join(docs[i] + "\n" for i in chosen).encode("utf-8"))
    (out / f"{name}.labels").write_text("".join(labels[i] + "\n" for i in chosen), encoding="utf-8")


if __name__ == "__main__":
    make_sample(Path(sys.argv[1]), Path(sys.argv[2]))
