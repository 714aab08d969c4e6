"""Regression tests for the defects a hostile new user found (issue 9), one or more each."""

import os
import pickle
import signal
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import Callback
from torch import nn

from skactive import ActiveLearner, QueryStrategy, TrainingExtras
from skactive.attacks import deepfool
from skactive.persistence import FORMAT_VERSION, InconsistentVersionWarning, save_weights
from skactive.simulation import simulate
from skactive.strategies import (
    BALD,
    CEAL,
    DFAL,
    EGL,
    CoreSet,
    EntropySampling,
    MarginSampling,
    RandomSampling,
)
from skactive.strategies.coreset import k_center_greedy

from .conftest import snapshot, tiny_net

# -- silent wrong results ------------------------------------------------------


def _scaled_digits(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    return X_init * 16.0, y_init, X_pool * 16.0, y_pool


def test_dfal_twins_skipped_when_the_transform_has_only_an_identity_inverse(digits_split):
    X_init, y_init, X_pool, _ = _scaled_digits(digits_split)
    pipe = make_pipeline(FunctionTransformer(lambda x: x / 16.0), tiny_net(max_epochs=3))
    learner = ActiveLearner(pipe, DFAL(), random_state=0).fit(X_init, y_init)
    with pytest.warns(UserWarning, match="twins skipped because the Pipeline steps"):
        learner.query(X_pool[:80], 4)
    assert learner.query_strategy_.extras_.n_twins == 0


def test_dfal_twins_mapped_back_through_a_true_inverse(digits_split):
    X_init, y_init, X_pool, y_pool = _scaled_digits(digits_split)
    scale = FunctionTransformer(lambda x: x / 16.0, inverse_func=lambda x: x * 16.0)
    pipe = make_pipeline(scale, tiny_net(max_epochs=3))
    learner = ActiveLearner(pipe, DFAL(), random_state=0).fit(X_init, y_init)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx = learner.query(X_pool[:80], 4)
    net = learner.estimator_[-1]  # the model the twins were made against
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_twins_) > 0
    # Twins live in the pool's space: mapped to the net's input (pool / 16) they
    # cross the boundary next to their source, instead of being 16 times too small.
    sources = learner.X_labeled_[learner.twin_sources_]
    assert np.abs(learner.X_twins_).max() > 2.0
    flipped = net.predict(learner.X_twins_ / 16.0) != net.predict(sources / 16.0)
    assert flipped.all()


def test_coreset_distinct_on_duplicates_and_on_the_labelled_rows(digits_split):
    points = np.repeat(np.arange(3.0)[:, None], 3, axis=0)  # 3 values, each 3 times
    picks, _, _ = k_center_greedy(points, np.empty((0, 1)), 8, rng=np.random.RandomState(0))
    assert len(set(picks.tolist())) == 8
    picks, _, _ = k_center_greedy(points, points, 5)
    assert len(set(picks.tolist())) == 5
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    pool = np.concatenate([X_pool[:4]] * 3)
    assert len(set(CoreSet().select(net, pool, 8, X_labeled=X_init).tolist())) == 8
    same = X_init[:6]
    assert len(set(CoreSet().select(net, same, 5, X_labeled=same).tolist())) == 5


class SigintAfterTeach(Callback):
    """Sends the process a real Ctrl-C (SIGINT) once training sees more than ``rows`` rows."""

    def __init__(self, rows=40):
        self.rows = rows

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if len(dataset_train) > self.rows:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def sigint_disposition():
    """Set SIGINT's disposition for one test, then restore the one the suite had.

    A shell starting a background job (``pytest &``, ``nohup``) starts it
    with SIGINT ignored, so a test that sends a real Ctrl-C must choose
    what SIGINT does itself.
    """
    previous = signal.getsignal(signal.SIGINT)

    def set_to(handler):
        signal.signal(signal.SIGINT, handler)

    yield set_to
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def ctrl_c_raises(sigint_disposition):
    """A real Ctrl-C raises KeyboardInterrupt, as in an interactive Python."""
    sigint_disposition(signal.default_int_handler)


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_during_a_refit_propagates_and_keeps_the_previous_model(digits_split, warm_start):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    net = tiny_net(max_epochs=3, callbacks=[SigintAfterTeach(rows=len(y_init))])
    learner = ActiveLearner(net, warm_start=warm_start, random_state=0).fit(X_init, y_init)
    model, weights = learner.estimator_, snapshot(learner.estimator_.module_.state_dict())
    idx = learner.query(X_pool, 5)
    with pytest.raises(KeyboardInterrupt):
        learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_labeled_) == len(y_init) + 5  # the oracle's labels are kept
    assert learner.estimator_ is model
    assert snapshot(model.module_.state_dict()) == weights
    with pytest.raises(KeyboardInterrupt):
        learner.refit()
    assert learner.estimator_ is model
    learner.set_params(estimator__callbacks=None)
    learner.refit()
    assert learner.estimator_ is not model and len(learner.estimator_.history) == 3


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_during_fit_leaves_the_learner_unfitted(digits_split):
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=4, callbacks=[SigintAfterTeach(rows=0)]))
    with pytest.raises(KeyboardInterrupt):
        learner.fit(X_init, y_init)
    assert not hasattr(learner, "estimator_") and not hasattr(learner, "n_features_in_")


def test_an_ignored_ctrl_c_stays_ignored(digits_split, sigint_disposition):
    # A learner run as a background job, where SIGINT is ignored: a Ctrl-C
    # changes nothing, the refit completes, and SIGINT is still ignored.
    sigint_disposition(signal.SIG_IGN)
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    net = tiny_net(max_epochs=3, callbacks=[SigintAfterTeach(rows=len(y_init))])
    learner = ActiveLearner(net, random_state=0).fit(X_init, y_init)
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.estimator_.history) == 3  # trained to the end
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_ctrl_c_handler_that_does_not_raise_is_kept(digits_split, sigint_disposition):
    # A program with its own SIGINT handler (it records, it does not raise):
    # the handler still sees the signal, and no interrupt is invented.
    seen = []
    sigint_disposition(lambda signum, frame: seen.append(signum))
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    net = tiny_net(max_epochs=2, callbacks=[SigintAfterTeach(rows=len(y_init))])
    learner = ActiveLearner(net, random_state=0).fit(X_init, y_init)
    idx = learner.query(X_pool, 5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert seen and len(learner.estimator_.history) == 2


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    return X, (X[:, 0] > 0).astype(int)


def test_set_params_after_fit_changes_the_strategy_and_keeps_round_state(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), CEAL(delta=0.2), random_state=0)
    learner.fit(X[:20], y[:20])
    for _ in range(2):
        idx = learner.query(X[20:], 3)
        learner.teach(X[20:][idx], y[20:][idx])
    learner.set_params(query_strategy__delta=0.5, query_strategy__delta_decay=0.0)
    learner.query(X[20:], 3)
    assert learner.query_strategy_.n_rounds_ == 3  # carried over
    assert learner.query_strategy_.delta_ == 0.5  # the new parameter took effect
    learner.set_params(query_strategy=RandomSampling(candidates=50))
    learner.query(X[20:], 3)
    assert isinstance(learner.query_strategy_, RandomSampling)
    assert len(learner.query_strategy_.candidates_) == 50


def test_set_params_random_state_after_fit_takes_effect(blobs):
    X, y = blobs

    def picks(change_seed):
        learner = ActiveLearner(LogisticRegression(), RandomSampling(), random_state=0)
        learner.fit(X[:20], y[:20])
        if change_seed:
            learner.set_params(random_state=1)
        return learner.query(X[20:], 8).tolist()

    assert picks(True) != picks(False)
    assert picks(True) == picks(True)


def test_classes_grow_after_fit_and_never_shrink(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    before = snapshot(learner)
    with pytest.raises(ValueError, match=r"learner.set_params\(classes=...\)"):
        learner.teach(X[20:22], [2, 2])
    assert snapshot(learner) == before
    learner.set_params(classes=[0, 1, 2])
    learner.teach(X[20:22], [2, 2])
    assert_array_equal(learner.classes_, [0, 1, 2])
    assert learner.predict_proba(X[:4]).shape == (4, 3)
    learner.set_params(classes=[0, 2])
    with pytest.raises(ValueError, match=r"drops the labels \[1\].*never shrink"):
        learner.teach(X[22:23], [0])


def test_classes_growing_beyond_a_nets_outputs_is_a_clear_error(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=1), random_state=0).fit(X_init, y_init)
    model = learner.estimator_
    learner.set_params(classes=list(range(11)))
    with pytest.raises(ValueError, match="classes"):
        learner.teach(X_pool[:1], [10])
    assert 10 in learner.y_labeled_ and learner.estimator_ is model
    learner.set_params(estimator__module__n_classes=11)
    learner.refit()
    assert learner.predict_proba(X_pool[:2]).shape == (2, 11)
    assert_allclose(learner.predict_proba(X_pool[:2]).sum(axis=1), [1.0, 1.0], rtol=1e-6)


def test_feature_names_checked_on_query_and_teach(blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(frame[:20], y[:20])
    reordered = frame[["c", "a", "b"]]
    before = snapshot(learner)
    for call in (
        lambda: learner.query(reordered[20:], 2),
        lambda: learner.teach(reordered[20:22], y[20:22]),
        lambda: learner.predict(reordered),
    ):
        with pytest.raises(ValueError, match="feature names"):
            call()
    assert snapshot(learner) == before
    idx = learner.query(frame[20:], 2)
    learner.teach(frame[20:].iloc[idx], y[20:][idx])
    assert_array_equal(learner.X_labeled_[-2:], X[20:][idx])


class OneLogit(nn.Module):
    """A linear binary classifier with one output unit: z = w . x + b."""

    def __init__(self, n_features=64):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        return self.linear(self.dropout(x.flatten(1))).squeeze(-1)


def _binary_net(**kwargs):
    params = dict(max_epochs=20, lr=0.05, train_split=None, verbose=0)
    params.update(kwargs)
    return NeuralNetBinaryClassifier(OneLogit, **params)


@pytest.fixture(scope="module")
def binary_digits(digits):
    X, y = digits
    keep = np.isin(y, [3, 8])
    return X[keep], np.where(y[keep] == 3, "three", "eight")


def test_binary_net_end_to_end(binary_digits):
    X, y = binary_digits
    learner = ActiveLearner(_binary_net(), EntropySampling(), random_state=0).fit(X[:30], y[:30])
    proba = learner.predict_proba(X[30:60])
    net_proba = learner.estimator_.predict_proba(X[30:60])
    assert_allclose(proba, net_proba, atol=1e-6)
    assert set(learner.predict(X[30:60])) <= {"three", "eight"}
    for strategy in (EntropySampling(), MarginSampling(), BALD(), EGL(), CEAL(delta=0.05)):
        learner.set_params(query_strategy=strategy)
        idx = learner.query(X[30:], 5)
        scores = learner.query_strategy_.scores_
        assert np.ptp(scores) > 0, type(strategy).__name__  # not one score for every row
        assert len(set(idx.tolist())) == 5
    pseudo = learner.query_strategy_.pseudo_indices_
    assert len(pseudo) < len(X[30:])  # CEAL does not pseudo-label every candidate
    learner.set_params(query_strategy=DFAL())
    idx = learner.query(X[30:], 4)
    learner.teach(X[30:][idx], y[30:][idx])
    assert len(learner.y_twins_) > 0


def test_binary_net_deepfool_is_the_analytic_distance(binary_digits):
    X, y = binary_digits
    net = _binary_net().fit(X[:60], (y[:60] == "three").astype(np.float32))
    w = net.module_.linear.weight.detach().numpy().ravel()
    b = float(net.module_.linear.bias.detach())
    rows = X[60:90].reshape(30, -1)
    result = deepfool(net, X[60:90], overshoot=0.0)
    expected = np.abs(rows @ w + b) / np.linalg.norm(w)
    assert_allclose(result.norms, expected, rtol=1e-3, atol=2e-4)


def test_binary_net_egl_last_layer_equals_all_parameters(binary_digits):
    X, y = binary_digits
    net = _binary_net().fit(X[:60], (y[:60] == "three").astype(np.float32))
    # The module's only parameters are its last layer's: both paths give the same scores.
    all_params, last_layer = EGL(parameters="all"), EGL(parameters="last_layer")
    picks = all_params.select(net, X[60:100], 3)
    assert_array_equal(last_layer.select(net, X[60:100], 3), picks)
    assert_allclose(all_params.scores_, last_layer.scores_, rtol=1e-4)


def test_binary_net_refuses_more_than_two_classes(digits_split):
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(_binary_net())
    with pytest.raises(
        ValueError, match="classes: a NeuralNetBinaryClassifier separates exactly 2"
    ):
        learner.fit(X_init, y_init)


def test_split_answers_keep_every_twin(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=3), DFAL(candidates=200), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, 6)
    n_twins = learner.query_strategy_.extras_.n_twins
    assert n_twins >= 4
    learner.teach(X_pool[idx[:3]], y_pool[idx[:3]])
    learner.teach(X_pool[idx[3:]], y_pool[idx[3:]])
    assert len(learner.y_twins_) == n_twins
    assert learner.history_[-1]["n_taught"] == 6 and learner.history_[-1]["n_twins"] == n_twins
    learner.teach(X_pool[idx[:1]], y_pool[idx[:1]])  # taught twice: no second twin
    assert len(learner.y_twins_) == n_twins


def test_degenerate_strategy_parameters_are_refused(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        BALD(n_samples=1).select(net, X_pool[:20], 2)
    with pytest.raises(
        ValueError, match=r"outliers=30 must be smaller than the number of candidates"
    ):
        CoreSet(method="mip", outliers=30, candidates=30).select(net, X_pool[:50], 2)


# -- crashes with unclear errors -------------------------------------------


def _flatten(X):
    return X.reshape(len(X), -1)


def _to_images(X):
    return X.reshape(len(X), 1, 8, 8)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.uint8, np.int8])
@pytest.mark.parametrize("in_pipeline", [False, True])
def test_every_numeric_dtype_reaches_a_net(digits_split, dtype, in_pipeline):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    scale = 1.0 if np.dtype(dtype).kind == "f" else 16.0
    cast = lambda X: (X * scale).astype(dtype)  # noqa: E731
    net = tiny_net(max_epochs=25, batch_size=16)
    if in_pipeline:  # StandardScaler returns float64, which the net must still accept
        net = make_pipeline(
            FunctionTransformer(_flatten), StandardScaler(), FunctionTransformer(_to_images), net
        )
    learner = ActiveLearner(net, EntropySampling(), random_state=0)
    learner.fit(cast(X_init), y_init)
    idx = learner.query(cast(X_pool), 3)
    learner.teach(cast(X_pool)[idx], y_pool[idx])
    idx = learner.query(cast(X_pool), 3)
    learner.teach(cast(X_pool)[idx].astype(np.float64), y_pool[idx])  # float64 afterwards
    # It learnt from the cast rows (chance is 0.1), whatever their dtype.
    assert learner.score(cast(X_test), y_test) > 0.3
    assert learner.predict_proba(cast(X_test[:3])).shape == (3, 10)


def test_net_with_more_outputs_than_classes_fails_at_fit(digits_split):
    X_init, y_init, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=1, module__n_classes=12))
    with pytest.raises(
        ValueError, match="classes: the network outputs 12 columns but the learner has 10"
    ):
        learner.fit(X_init, y_init)
    assert not hasattr(learner, "estimator_")


class FailingClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("estimator exploded")


def test_failed_fit_leaves_the_previous_campaign_intact(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    before = snapshot(learner)
    with pytest.raises(ValueError):
        learner.fit(np.hstack([X, X])[:20], np.full(20, np.nan))
    assert snapshot(learner) == before and learner.n_features_in_ == 3
    learner.set_params(estimator=FailingClassifier())
    with pytest.raises(RuntimeError, match="estimator exploded"):
        learner.fit(np.hstack([X, X])[:30], y[:30])
    learner.set_params(estimator=LogisticRegression())
    assert snapshot(learner) == before


def test_clearer_messages(digits_split, blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    before = snapshot(learner)
    with pytest.raises(TypeError, match="X_pool is a sparse matrix"):
        learner.query(sparse.csr_matrix(X[20:]), 2)
    with pytest.raises(ValueError, match="y is required"):
        learner.teach(X[20:22], None)
    assert snapshot(learner) == before
    with pytest.raises(TypeError, match="LinearRegression is a regressor"):
        ActiveLearner(LinearRegression()).fit(X[:20], y[:20])
    with pytest.raises(TypeError, match=r"pass EntropySampling\(\), not the class"):
        ActiveLearner(LogisticRegression(), EntropySampling).fit(X[:20], y[:20])
    with pytest.raises(TypeError, match="CalibratedClassifierCV"):
        EntropySampling().select(SVC().fit(X[:20], y[:20]), X[20:], 2)
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    with pytest.raises(ValueError, match="overshoot must be a non-negative number, got 'a'"):
        DFAL(overshoot="a").select(net, X_pool[:10], 2)
    with pytest.raises(ValueError, match="clip must be None or a pair"):
        DFAL(clip=5).select(net, X_pool[:10], 2)


class NoDecision(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_calibration_hint_only_where_it_applies(blobs):
    X, y = blobs
    with pytest.raises(TypeError) as info:
        EntropySampling().select(NoDecision().fit(X, y), X, 2)
    assert "Calibrated" not in str(info.value) and "SVC" not in str(info.value)


# -- persistence messages ---------------------------------------------------------


class LocalModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x)


def test_load_names_code_that_cannot_be_imported(tmp_path, blobs, monkeypatch):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    learner.estimator_.extra = LocalModule()
    path = learner.save(tmp_path / "learner.skal")
    monkeypatch.delattr(sys.modules[__name__], "LocalModule")
    with pytest.raises(ValueError, match="cannot be imported here"):
        ActiveLearner.load(path)


def test_loading_another_versions_file_warns(tmp_path, blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    path = tmp_path / "learner.skal"
    header = {"format": "skactive-learner", "version": FORMAT_VERSION, "skactive": "0.0.1"}
    path.write_bytes(pickle.dumps((header, learner)))
    with pytest.warns(InconsistentVersionWarning, match="saved by skactive 0.0.1"):
        ActiveLearner.load(path)


def test_save_errors_name_the_target_path(tmp_path, blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), random_state=0).fit(X[:20], y[:20])
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    target = blocker / "learner.skal"
    with pytest.raises(OSError, match=f"cannot save to {target}"):
        learner.save(target)


def test_save_weights_of_an_unfitted_learner():
    with pytest.raises(NotFittedError):
        save_weights(ActiveLearner(tiny_net()), "unused")


# -- the same classes of defect, found beyond the list -------------------


class MalformedTwins(QueryStrategy):
    """Hands twins with the wrong row shape."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def score_rows(self, model, X_chunk):
        return X_chunk[:, 0]

    def training_extras(self, model, X_pool, selected, X_labeled=None):
        return TrainingExtras(twins=np.zeros((len(selected), 5)), twin_sources=np.arange(3))


def test_malformed_extras_are_refused_at_query_time(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression(), MalformedTwins()).fit(X[:20], y[:20])
    before = snapshot(learner)
    with pytest.raises(RuntimeError, match=r"MalformedTwins handed malformed TrainingExtras"):
        learner.query(X[20:], 3)
    assert snapshot(learner) == before


def test_public_helpers_validate_their_input(digits_split, blobs):
    with pytest.raises(ValueError, match=r"n=5 is larger than the points \(3 rows\)"):
        k_center_greedy(np.arange(3.0)[:, None], np.empty((0, 1)), 5)
    X_init, y_init, *_ = digits_split
    net = tiny_net(max_epochs=1).fit(X_init, y_init)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        deepfool(net, np.full((3, 1, 8, 8), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="overshoot must be a non-negative number"):
        deepfool(net, X_init[:2], overshoot=-1)
    X, y = blobs
    learner = ActiveLearner(LogisticRegression()).fit(X[:20], y[:20])
    learner.set_params(warm_start="yes")
    with pytest.raises(ValueError, match="warm_start must be True or False"):
        learner.refit()


def test_simulation_checks_its_settings_before_training(blobs, monkeypatch):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression())
    monkeypatch.setattr(learner, "fit", lambda *a: pytest.fail("trained before checking"))
    for bad in ({"query_size": 0}, {"n_rounds": -1}):
        settings = {"n_rounds": 2, "query_size": 5, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            simulate(learner, X[:20], y[:20], X[20:80], y[20:80], X[80:], y[80:], **settings)


def test_labels_are_stored_as_the_classes_themselves(blobs):
    X, y = blobs
    learner = ActiveLearner(LogisticRegression()).fit(X[:20], y[:20])
    learner.teach(X[20:22], np.array([1.0, 0.0]))
    assert learner.y_labeled_.dtype == y.dtype
    assert_array_equal(learner.y_labeled_[-2:], [1, 0])
