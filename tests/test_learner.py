import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skactive import ActiveLearner, QueryStrategy, TrainingExtras
from skactive.strategies import EntropySampling, RandomSampling

from .conftest import snapshot, tiny_net


class TwinsAndPseudo(QueryStrategy):
    """Test-only strategy: picks the rows with the largest first feature,
    makes a twin ``row + 100`` for each, and pseudo-labels the ``n_pseudo``
    rows with the smallest first feature with the model's prediction."""

    def __init__(self, n_pseudo=2, random_state=None):
        self.n_pseudo = n_pseudo
        self.random_state = random_state

    def score_rows(self, model, X_chunk):
        return X_chunk[:, 0]

    def training_extras(self, model, X_pool, selected, X_labeled=None):
        low = np.argsort(X_pool[:, 0])[: self.n_pseudo]
        return TrainingExtras(
            twins=X_pool[selected] + 100.0,
            twin_sources=np.arange(len(selected)),
            pseudo_X=X_pool[low],
            pseudo_y=model.predict(X_pool[low]),
        )


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = (X[:, 1] > 0).astype(int)
    return X, y


def test_fit_query_teach_grows_labelled_set(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    pool, y_pool = X[20:], y[20:]
    for round_ in range(3):
        idx = learner.query(pool, n=5)
        assert len(set(idx.tolist())) == 5
        learner.teach(pool[idx], y_pool[idx])
        pool, y_pool = np.delete(pool, idx, axis=0), np.delete(y_pool, idx)
        assert learner.n_iter_ == round_ + 1
    assert len(learner.y_labeled_) == 35
    assert [h["n_labeled"] for h in learner.history_] == [20, 25, 30]
    assert all(h["n_taught"] == 5 for h in learner.history_)
    assert learner.history_[0]["scores"].shape == (5,)
    _X_train, y_train, groups = learner.training_set()
    assert_array_equal(groups, np.arange(35))
    assert_array_equal(y_train, learner.y_labeled_)


def test_default_strategy_is_entropy(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression()).fit(X[:20], y[:20])
    learner.query(X[20:], 3)
    assert isinstance(learner.query_strategy_, EntropySampling)


def test_string_labels_and_missing_class(blobs):
    X, y = blobs
    labels = np.array(["cat", "dog", "eel"])[y]
    learner = ActiveLearner(LogisticRegression(), classes=["cat", "dog", "eel"])
    learner.fit(X[:20], labels[:20])
    assert_array_equal(learner.classes_, ["cat", "dog", "eel"])
    proba = learner.predict_proba(X[20:30])
    assert proba.shape == (10, 3)
    assert_array_equal(proba[:, 2], 0.0)
    assert set(learner.predict(X[20:30])) <= {"cat", "dog"}
    learner.teach(X[20:22], ["eel", "eel"])
    assert learner.predict_proba(X[:5]).shape == (5, 3)


def test_skorch_net_keeps_all_classes_when_one_is_missing(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, _ = digits_split
    keep = y_init != 9
    learner = ActiveLearner(tiny_net(max_epochs=2), classes=np.arange(10), random_state=0)
    learner.fit(X_init[keep], y_init[keep])
    assert_array_equal(learner.estimator_.classes_, np.arange(10))
    assert learner.predict_proba(X_test[:4]).shape == (4, 10)
    nine = np.flatnonzero(y_pool == 9)[:2]
    learner.teach(X_pool[nine], y_pool[nine])
    assert 9 in learner.y_labeled_


def test_twins_and_pseudo_labels_protocol(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), TwinsAndPseudo(), random_state=0)
    learner.fit(X[:20], y[:20])
    pool = X[20:]
    idx = learner.query(pool, n=4)
    assert_array_equal(idx, np.argsort(-pool[:, 0])[:4])
    # teach a reordered subset: twins follow their own source row
    taught = idx[[2, 0, 1]]
    learner.teach(pool[taught], [1, 0, 1])
    assert len(learner.y_labeled_) == 23
    assert_array_equal(learner.X_twins_, pool[taught] + 100.0)
    assert_array_equal(learner.y_twins_, [1, 0, 1])
    assert_array_equal(learner.twin_sources_, [20, 21, 22])
    _X_train, y_train, groups = learner.training_set()
    assert len(y_train) == 26
    assert_array_equal(groups[-3:], [20, 21, 22])
    assert len(learner.y_pseudo_) == 2
    X_all, _, groups_all = learner.training_set(include_pseudo=True)
    assert len(X_all) == 28 and len(np.unique(groups_all)) == 25
    # the fourth queried row, taught later, still brings its twin
    learner.teach(pool[idx[3:]], [0])
    assert len(learner.y_twins_) == 4
    assert_array_equal(learner.X_twins_[-1], pool[idx[3]] + 100.0)
    # a row nobody queried brings no twin; pseudo-labels last until the next query,
    # less any row the oracle labels meanwhile
    pseudo_row = learner.X_pseudo_[:1]
    learner.teach(np.concatenate([X[:1] * 3.0, pseudo_row]), [0, 1])
    assert len(learner.y_twins_) == 4
    assert len(learner.y_pseudo_) == 1
    assert not (learner.X_pseudo_ == pseudo_row).all(axis=1).any()
    learner.query(pool, n=1)
    learner.teach(X[:1] * 5.0, [0])
    assert len(learner.y_pseudo_) == 2  # the new query's pseudo-labels replaced them


def test_fit_is_trained_on_twins_and_pseudo_labels(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), TwinsAndPseudo(n_pseudo=3)).fit(X[:20], y[:20])
    idx = learner.query(X[20:], n=2)
    learner.teach(X[20:][idx], y[20:][idx])
    assert learner.estimator_.n_features_in_ == 3
    # 20 initial + 2 taught + 2 twins + 3 pseudo rows reached the estimator
    assert learner.training_set(include_pseudo=True)[0].shape[0] == 27


def test_clone_params_and_nested_set_params():
    learner = ActiveLearner(tiny_net(), EntropySampling(candidates=100), random_state=3)
    params = learner.get_params()
    assert params["estimator__lr"] == 3e-3
    assert params["query_strategy__candidates"] == 100
    learner.set_params(estimator__lr=0.01, query_strategy__candidates=50)
    assert learner.estimator.lr == 0.01
    copy = clone(learner)
    assert copy.estimator is not learner.estimator
    assert copy.get_params()["estimator__lr"] == 0.01
    assert copy.query_strategy.candidates == 50


def test_pickle_round_trip_continues_identically(digits_split):
    X_init, y_init, X_pool, _y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), EntropySampling(), random_state=0)
    learner.fit(X_init, y_init)
    restored = pickle.loads(pickle.dumps(learner))
    assert_array_equal(restored.query(X_pool, 5), learner.query(X_pool, 5))


def test_grid_search_and_cross_val_score(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), RandomSampling(), random_state=0)
    scores = cross_val_score(learner, X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.7).all()
    search = GridSearchCV(learner, {"estimator__C": [0.01, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
    idx = search.best_estimator_.query(X[:50], 3)
    assert len(idx) == 3


def test_pipeline_estimator(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    learner = ActiveLearner(pipe, random_state=0).fit(X[:20] * 10, y[:20])
    idx = learner.query(X[20:] * 10, 4)
    learner.teach(X[20:][idx] * 10, y[20:][idx])
    assert learner.score(X * 10, y) > 0.8


def test_delegated_methods_follow_the_estimator(blobs):
    X, y = blobs
    assert not hasattr(ActiveLearner(SVC()), "predict_proba")
    assert hasattr(ActiveLearner(SVC(probability=True)), "predict_proba")
    learner = ActiveLearner(SVC(), RandomSampling()).fit(X[:30], y[:30])
    assert learner.decision_function(X[:3]).shape == (3,)
    assert not hasattr(learner, "predict_proba")


def test_warm_start_continues_training_the_same_net(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), warm_start=True, random_state=0)
    learner.fit(X_init, y_init)
    net = learner.estimator_
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    # The previous model is copied, not trained in place: a failed refit keeps it.
    assert len(net.history) == 2
    assert len(learner.estimator_.history) == 4  # 2 epochs at fit + 2 more on all 45 rows
    assert learner.estimator_.history[-1]["train_batch_count"] == 2  # ceil(45 / 32)


def test_full_refit_trains_a_fresh_clone_on_all_rows(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), random_state=0).fit(X_init, y_init)
    net = learner.estimator_
    idx = learner.query(X_pool, 30)
    learner.teach(X_pool[idx], y_pool[idx])
    assert learner.estimator_ is not net
    assert len(learner.estimator_.history) == 2
    assert learner.estimator_.history[-1]["train_batch_count"] == 3  # 70 rows


def test_same_random_state_same_model_and_queries(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    runs = [
        ActiveLearner(tiny_net(max_epochs=2), random_state=5).fit(X_init, y_init) for _ in range(2)
    ]
    assert_array_equal(runs[0].predict_proba(X_pool[:20]), runs[1].predict_proba(X_pool[:20]))
    assert_array_equal(runs[0].query(X_pool, 5), runs[1].query(X_pool, 5))


class _Exploding(ClassifierMixin, BaseEstimator):
    """Logistic regression that runs out of memory on more than 20 rows."""

    def __init__(self, explode=False):
        self.explode = explode

    def fit(self, X, y):
        if self.explode and len(y) > 20:
            raise MemoryError("simulated out of memory")
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def test_failed_refit_keeps_taught_labels(blobs):
    X, y = blobs
    learner = ActiveLearner(_Exploding(), random_state=0).fit(X[:20], y[:20])
    old_model = learner.estimator_
    learner.set_params(estimator__explode=True)
    idx = learner.query(X[20:], 3)
    with pytest.raises(MemoryError):
        learner.teach(X[20:][idx], y[20:][idx])
    assert len(learner.y_labeled_) == 23
    assert learner.estimator_ is old_model
    learner.set_params(estimator__explode=False)
    learner.refit()
    assert learner.estimator_ is not old_model
    assert learner.estimator_.model_.n_features_in_ == 3
    assert len(learner.estimator_.model_.coef_) == 1


# -- bad input: clear errors naming the parameter, state untouched ----------


def _fitted(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    learner.query(X[20:], 2)
    return learner


BAD_QUERIES = [
    (lambda X: X[:0], 2, ValueError, "X_pool is empty"),
    (lambda X: X, 0, ValueError, "n must be at least 1"),
    (lambda X: X, -3, ValueError, "n must be at least 1"),
    (lambda X: X, 2.5, TypeError, "n must be an integer"),
    (lambda X: X[:4], 5, ValueError, r"n=5 is larger than the pool \(4 rows\)"),
    (
        lambda X: np.where(np.arange(len(X))[:, None] == 7, np.nan, X),
        2,
        ValueError,
        "X_pool contains NaN or infinity .first at row 7",
    ),
    (lambda X: np.full_like(X, np.inf), 2, ValueError, "X_pool contains NaN"),
    (lambda X: X[:, :2], 2, ValueError, r"X_pool has rows of shape \(2,\).*\(3,\)"),
    (lambda X: X[:, 0], 2, ValueError, "X_pool must have shape"),
    (lambda X: X.astype(str), 2, TypeError, "X_pool must hold numbers"),
]


@pytest.mark.parametrize("make_pool, n, exc, message", BAD_QUERIES)
def test_bad_query_input(blobs, make_pool, n, exc, message):
    learner = _fitted(blobs)
    before = snapshot(learner)
    with pytest.raises(exc, match=message):
        learner.query(make_pool(blobs[0][20:]), n)
    assert snapshot(learner) == before


BAD_TEACH = [
    (lambda X: X[:3], [0, 1], ValueError, "X and y have different lengths"),
    (lambda X: X[:2, :2], [0, 1], ValueError, "X has rows of shape"),
    (lambda X: X[:2] * np.nan, [0, 1], ValueError, "X contains NaN"),
    (lambda X: X[:2], [0, 7], ValueError, r"y has labels \[7\] outside the classes"),
    (lambda X: X[:2], ["a", "b"], ValueError, "y has labels"),
    (lambda X: X[:0], [], ValueError, "X is empty"),
]


@pytest.mark.parametrize("make_X, labels, exc, message", BAD_TEACH)
def test_bad_teach_input(blobs, make_X, labels, exc, message):
    learner = _fitted(blobs)
    before = snapshot(learner)
    with pytest.raises(exc, match=message):
        learner.teach(make_X(blobs[0][20:]), labels)
    assert snapshot(learner) == before


def test_query_and_teach_before_fit(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression())
    with pytest.raises(NotFittedError):
        learner.query(X, 1)
    with pytest.raises(NotFittedError):
        learner.teach(X[:1], y[:1])
    assert snapshot(learner) == snapshot(ActiveLearner(LogisticRegression()))


def test_strategy_needing_predict_proba_leaves_state(blobs):
    X, y = blobs
    learner = ActiveLearner(SVC(), EntropySampling()).fit(X[:20], y[:20])
    before = snapshot(learner)
    with pytest.raises(TypeError, match="EntropySampling needs predict_proba"):
        learner.query(X[20:], 2)
    assert snapshot(learner) == before


def test_bad_constructor_values_fail_in_fit(blobs):
    X, y = blobs
    with pytest.raises(TypeError, match="query_strategy must be a skactive QueryStrategy"):
        ActiveLearner(LogisticRegression(), query_strategy="entropy").fit(X, y)
    with pytest.raises(ValueError, match="warm_start must be True or False"):
        ActiveLearner(LogisticRegression(), warm_start="yes").fit(X, y)
    with pytest.raises(ValueError, match=r"y has labels \[1\] not listed in classes"):
        ActiveLearner(LogisticRegression(), classes=[0]).fit(X, y)


class _NormalisesInPlace(EntropySampling):
    """Scales the rows it is given in place, as a careless strategy might."""

    def select(self, estimator, X_pool, n, *, X_labeled=None, y_labeled=None):
        X_labeled /= np.abs(X_labeled).max()
        return super().select(estimator, X_pool, n, X_labeled=X_labeled, y_labeled=y_labeled)


class _ScalesThePool(EntropySampling):
    def select(self, estimator, X_pool, n, **labeled):
        X_pool *= 2
        return super().select(estimator, X_pool, n, **labeled)


@pytest.mark.parametrize("strategy", [_NormalisesInPlace(), _ScalesThePool()])
def test_a_strategy_cannot_rewrite_the_labelled_rows_or_the_pool(blobs, strategy):
    X, y = blobs
    X = X * 10
    learner = ActiveLearner(LogisticRegression(), strategy, random_state=0).fit(X[:20], y[:20])
    before = pickle.dumps(learner)
    pool = X[20:].copy()
    with pytest.raises(ValueError, match="read-only"):
        learner.query(pool, 3)
    assert pickle.dumps(learner) == before
    assert_array_equal(learner.X_labeled_, X[:20])
    assert_array_equal(pool, X[20:])


# -- the oracle's corrections: teach without refit, relabel, forget -----------


def _coefficients(learner):
    return learner.estimator_.coef_.copy()


def test_teach_without_refit_records_labels_and_keeps_the_model(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    before = _coefficients(learner)
    learner.teach(X[20:30], y[20:30], refit=False)
    assert len(learner.y_labeled_) == 30
    assert_array_equal(_coefficients(learner), before)
    learner.refit()
    reference = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    reference.teach(X[20:30], y[20:30])
    assert_array_equal(_coefficients(learner), _coefficients(reference))


def _taught_with_twins(seed: int):
    """A learner of 10 rows, then 3 queried rows taught, each with its twin."""
    rng = np.random.RandomState(seed)
    X = rng.randn(60, 3)
    y = (X[:, 0] > 0).astype(int)
    learner = ActiveLearner(LogisticRegression(), TwinsAndPseudo(n_pseudo=1), random_state=0)
    learner.fit(X[:10], y[:10])
    idx = learner.query(X[10:], n=3)
    return learner.teach(X[10:][idx], y[10:][idx]), X


def test_relabel_replaces_labels_of_rows_and_of_their_twins():
    learner, X = _taught_with_twins(0)
    row = 11  # the second taught row; its twin carries its label
    twin = np.flatnonzero(learner.twin_sources_ == row)
    assert len(twin) == 1
    new_label = 1 - learner.y_labeled_[row]
    learner.relabel([row], [new_label])
    assert learner.y_labeled_[row] == new_label
    assert learner.y_twins_[twin[0]] == new_label
    assert len(learner.y_labeled_) == 13
    X_train, y_train, _ = learner.training_set()
    fresh = LogisticRegression().fit(X_train, y_train)
    assert_array_equal(learner.predict(X), fresh.predict(X))


def test_relabel_keeps_a_longer_string_label_whole():
    X = np.random.RandomState(0).randn(20, 2)
    y = np.array(["a", "b"] * 10)
    learner = ActiveLearner(LogisticRegression(), classes=["a", "b", "ccc"]).fit(X, y)
    learner.relabel([0], ["ccc"], refit=False)
    assert learner.y_labeled_[0] == "ccc"


def test_forget_removes_rows_and_their_twins_and_renumbers_sources():
    learner, _ = _taught_with_twins(1)
    kept_row = learner.X_labeled_[12].copy()
    kept_twin = learner.X_twins_[learner.twin_sources_ == 12][0].copy()
    learner.forget([3, 11])
    assert len(learner.y_labeled_) == 11
    assert len(learner.y_twins_) == 2
    # Row 12 is now row 10; its twin follows it.
    assert_array_equal(learner.X_labeled_[10], kept_row)
    assert_array_equal(learner.X_twins_[learner.twin_sources_ == 10][0], kept_twin)
    assert learner.twin_sources_.max() < len(learner.y_labeled_)


@pytest.mark.parametrize(
    ("method", "args", "match"),
    [
        ("relabel", ([99], [0]), "indices must be positions in 0..19"),
        ("relabel", ([0, 0], [0, 1]), "indices must be distinct"),
        ("relabel", ([0.5], [0]), "indices must be a 1-D array of integer"),
        ("relabel", ([0], [7]), "outside the classes"),
        ("relabel", ([0], [0, 1]), "different lengths"),
        ("forget", (list(range(20)),), "would leave nothing to train on"),
        ("teach", (np.zeros((1, 3)), [0]), "refit"),
    ],
)
def test_corrections_refuse_bad_input_and_leave_the_learner_unchanged(blobs, method, args, match):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    before = snapshot(learner)
    kwargs = {"refit": "yes"} if method == "teach" else {}
    with pytest.raises((ValueError, TypeError), match=match):
        getattr(learner, method)(*args, **kwargs)
    assert snapshot(learner) == before


@pytest.mark.parametrize("fitted_labels", [np.arange(2, 10), np.array([3, 7])])
def test_decision_function_has_a_column_per_declared_class(fitted_labels):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = fitted_labels[rng.randint(len(fitted_labels), size=80)]
    learner = ActiveLearner(LogisticRegression(max_iter=300), classes=np.arange(10)).fit(X, y)
    scores = learner.decision_function(X)
    assert scores.shape == learner.predict_proba(X).shape == (80, 10)
    unseen = np.setdiff1d(np.arange(10), fitted_labels)
    assert np.all(scores[:, unseen] == -np.inf)
    np.testing.assert_array_equal(learner.classes_[scores.argmax(axis=1)], learner.predict(X))
    # Two classes in all: one score per row, scikit-learn's convention.
    binary = np.where(X[:, 0] > 0, 7, 3)
    two = ActiveLearner(LogisticRegression(max_iter=300), classes=[3, 7]).fit(X, binary)
    assert two.decision_function(X).shape == (80,)


def test_rows_keep_their_keys_through_forget_relabel_pickle_and_save_weights(tmp_path):
    import pickle

    from sklearn.linear_model import LogisticRegression

    from skactive.datasets import load_digits_images
    from skactive.models import make_net
    from skactive.persistence import load_weights, save_weights

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:10], y[:10])
    learner.teach(X[10:13], y[10:13], keys=[101, 102, 103])
    learner.teach(X[13:15], y[13:15], keys=["a.png", "b.png"])
    assert learner.keys_.tolist() == [None] * 10 + [101, 102, 103, "a.png", "b.png"]
    learner.forget(learner.rows_of([101]))
    (row,) = learner.rows_of(["b.png"])
    np.testing.assert_array_equal(learner.X_labeled_[row], X[14])  # moved up, still found
    learner.relabel(learner.rows_of([102]), [1 - y[11]])
    assert learner.y_labeled_[learner.rows_of([102])[0]] == 1 - y[11]
    before = learner.keys_.tolist()
    for bad, message in (([102], "already name"), ([None], "None"), ([5, 5], "distinct")):
        with pytest.raises(ValueError, match=f"keys.*{message}"):
            learner.teach(X[20 : 20 + len(bad)], y[20 : 20 + len(bad)], keys=bad)
    with pytest.raises(ValueError, match=r"keys: no labelled row has the keys \[101\]"):
        learner.rows_of([101])
    assert learner.keys_.tolist() == before and len(learner.y_labeled_) == 14
    learner.assign_keys([0], ["first"])
    assert pickle.loads(pickle.dumps(learner)).rows_of(["first", 103]).tolist() == [0, 11]
    # save_weights keeps them too (in meta.json, no pickle).
    X_img, y_img = load_digits_images()
    net = make_net("lenet5", image_size=8, max_epochs=1)
    cnn = ActiveLearner(net, random_state=0).fit(X_img[:30], y_img[:30])
    cnn.teach(X_img[30:32], y_img[30:32], refit=False, keys=[7, "x"])
    loaded = load_weights(ActiveLearner(net, random_state=0), save_weights(cnn, tmp_path / "w"))
    assert loaded.keys_.tolist() == cnn.keys_.tolist()


def test_a_warm_refit_trains_warm_epochs_and_a_fresh_one_the_nets_own(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=4), warm_start=True, warm_epochs=2, random_state=0
    ).fit(X_init, y_init)
    assert len(learner.estimator_.history) == 4  # the first fit is fresh: the net's own
    learner.teach(X_pool[:3], y_pool[:3])
    assert len(learner.estimator_.history) == 6  # two more epochs from the same weights
    learner.set_params(warm_start=False).refit()
    assert len(learner.estimator_.history) == 4
    with pytest.raises(ValueError, match="warm_epochs"):
        ActiveLearner(tiny_net(), warm_start=True, warm_epochs=0).fit(X_init, y_init)
