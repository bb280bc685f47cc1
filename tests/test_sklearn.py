"""GeneralizedGBN as a scikit-learn transformer: the estimator checks, pipelines, grid search, clone,
set_output, partial_fit, score. Tiny widths and one or two epochs: the whole file runs in seconds."""
from __future__ import annotations

import gzip
import inspect

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from deepgbn_text import GeneralizedGBN, UserInputError
from deepgbn_text.corpora import load_labels, sample_path

FAST = dict(n_topics=(2, 1), n_layers=2, hidden=4, epochs=1, batch_size=16, val_fraction=0.0, device="cpu")

NOT_COUNTS = ("feeds real-valued X (make_blobs and the like, shifted to be non-negative); the Poisson "
              "count model takes whole-number counts and says so in one line")
EXPECTED_FAILED = {name: NOT_COUNTS for name in (
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf",
    "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array",
    "check_transformer_general", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit2d_predict1d",
)}
"""Checks that cannot apply to a count model, with the reason (the same properties are tested below on counts)."""


@parametrize_with_checks([GeneralizedGBN(**FAST)], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_parameter_constraints_cover_exactly_the_init_parameters():
    params = set(inspect.signature(GeneralizedGBN).parameters)
    assert set(GeneralizedGBN._parameter_constraints) == params


def test_scikit_learn_parameter_validation_check():
    """scikit-learn runs this check on its own estimators only: every parameter given a wrong type or value
    makes fit, partial_fit and fit_transform raise InvalidParameterError with scikit-learn's message."""
    check_param_validation("GeneralizedGBN", GeneralizedGBN(**FAST))


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], list[str]]:
    """The first 200 documents of the bundled sample and their newsgroups."""
    with gzip.open(sample_path(), "rt", encoding="utf-8") as lines:
        docs = [next(lines) for _ in range(200)]
    return docs, load_labels()[:200]


@pytest.fixture(scope="module")
def counts(small_corpus) -> sp.csr_matrix:
    return small_corpus.counts[:120]


def test_clone_round_trip_keeps_every_parameter():
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, lr=1e-2, layer="all", seed=3)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.n_topics == [6, 3] and GeneralizedGBN(n_topics=(2, 1)).n_topics == (2, 1)  # stored as given


def test_pipeline_count_vectorizer_ggbn_logistic_regression(sample):
    docs, labels = sample
    pipe = make_pipeline(CountVectorizer(min_df=3, stop_words="english"), GeneralizedGBN(**{**FAST, "n_topics": (8, 4)}),
                         LogisticRegression(max_iter=200))
    pipe.fit(docs, labels)
    assert pipe.predict(docs[:5]).shape == (5,)
    assert 0 <= pipe.score(docs, labels) <= 1


def test_grid_search_over_two_widths(counts):
    search = GridSearchCV(GeneralizedGBN(**FAST), {"n_topics": [(2, 1), (4, 2)]}, cv=2)
    search.fit(counts)
    assert search.best_params_["n_topics"] in [(2, 1), (4, 2)]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_transform_one_layer_or_all_with_feature_names(counts):
    model = GeneralizedGBN(**FAST).fit(counts)
    layers = model.transform_layers(counts)
    assert np.array_equal(model.transform(counts), layers[0])
    assert list(model.get_feature_names_out()) == ["L1-0", "L1-1"]
    model.set_params(layer=2)
    assert np.array_equal(model.transform(counts), layers[1]) and list(model.get_feature_names_out()) == ["L2-0"]
    model.set_params(layer="all")
    assert np.array_equal(model.transform(counts), np.hstack(layers))
    assert list(model.get_feature_names_out()) == ["L1-0", "L1-1", "L2-0"]
    with pytest.raises(UserInputError, match="layer must be between 1 and 2"):
        model.set_params(layer=3).transform(counts)


def test_fit_transform_equals_fit_then_transform(counts):
    assert np.array_equal(GeneralizedGBN(**FAST).fit_transform(counts),
                          GeneralizedGBN(**FAST).fit(counts).transform(counts))


def test_dense_sparse_and_dataframe_give_the_same_model(counts):
    pd = pytest.importorskip("pandas")
    words = [f"word{v:02d}" for v in range(counts.shape[1])]
    frame = pd.DataFrame(counts.toarray(), columns=words)
    from_sparse = GeneralizedGBN(**FAST).fit(counts)
    from_frame = GeneralizedGBN(**FAST).fit(frame)
    assert np.array_equal(from_sparse.components_, from_frame.components_)
    assert np.array_equal(GeneralizedGBN(**FAST).fit(counts.toarray()).transform(counts), from_sparse.transform(counts))
    assert list(from_frame.feature_names_in_) == words and from_frame.vocab_ == words
    assert from_sparse.n_features_in_ == counts.shape[1] and not hasattr(from_sparse, "feature_names_in_")
    assert from_frame.components_.shape == (2, counts.shape[1])
    assert np.allclose(from_frame.components_.sum(1), 1.0, atol=1e-4)


def test_set_output_pandas_names_the_topic_columns(counts):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(counts.toarray(), columns=[f"word{v:02d}" for v in range(counts.shape[1])],
                         index=[f"doc{i}" for i in range(counts.shape[0])])
    out = GeneralizedGBN(**{**FAST, "layer": "all"}).set_output(transform="pandas").fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["L1-0", "L1-1", "L2-0"] and out.index[0] == "doc0"


def test_score_is_minus_log_perplexity(counts):
    model = GeneralizedGBN(**FAST).fit(counts)
    assert model.score(counts) == pytest.approx(-np.log(model.perplexity(counts)))
    assert model.score(counts) == model.score(counts)  # the completion split is seeded


def test_partial_fit_trains_online_in_chunks(counts):
    model = GeneralizedGBN(**FAST)
    for start in range(0, counts.shape[0], 40):
        model.partial_fit(counts[start : start + 40])
    assert len(model.history_) == 3 and model.n_docs_seen_ == counts.shape[0]
    assert model.transform(counts).shape == (counts.shape[0], 2)
    assert np.allclose([sum(p) for p in model.topic_prevalence_], 1.0)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(counts[:, :10])


@pytest.mark.parametrize("X, match", [
    (np.array([[1, -1], [2, 3]]), "Negative values in data passed to GeneralizedGBN.fit"),
    (np.array([[1.5, 1.0], [2.0, 3.0]]), "counts must be whole numbers"),
])
def test_bad_counts_are_one_clear_error(X, match):
    with pytest.raises(ValueError, match=match):
        GeneralizedGBN(**{**FAST, "n_topics": (1, 1)}).fit(X)


def test_unfitted_model_raises_not_fitted_error(counts):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        GeneralizedGBN(**FAST).transform(counts)


def test_invalid_parameter_names_the_option_and_is_scikit_learns_error():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="--gate-max: invalid value 2"):
        GeneralizedGBN(gate_max=2).validate_params()
    with pytest.raises(InvalidParameterError, match="--gamma-concentration: invalid value -1"):
        GeneralizedGBN(gamma_concentration=-1).validate_params()
    with pytest.raises(UserInputError, match="--layers: invalid value 0"):
        GeneralizedGBN(n_layers=0).validate_params()
