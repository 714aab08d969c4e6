"""Every strategy against every bad input: a clear error, the learner untouched."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.experiments.registry import STRATEGIES, estimator_for
from skactive.models import make_net

from .conftest import snapshot, tiny_net

TORCH_ONLY = {
    "dfal",
    "bald",
    "egl",
    "coreset",
    "qbc",
    "learning_loss",
    "bgadl",
}  # refuse a plain LogisticRegression
FAST_PARAMS = {
    "bald": {"n_samples": 2},
    "qbc": {"n_samples": 2},
    "egl": {"parameters": "last_layer"},
    # Strategies that train models of their own: the fewest steps that run.
    "vaal": {"n_iterations": 5},
    "dal": {"max_epochs": 5},
    "bald_vae_twins": {"n_samples": 2, "n_iterations": 5},
    "bgadl": {"n_samples": 2},
}

#: Strategies that read a net of their own kind (a loss head, a VAE-ACGAN).
OWN_NETS = ("learning_loss", "bgadl")


def _net_for(name, net):
    """LearningLoss reads a loss head, BGADL a VAE-ACGAN: their learners train those nets."""
    return estimator_for(name, net) if name in OWN_NETS else net


def _strategy(name, **params):
    return STRATEGIES[name](**{**FAST_PARAMS.get(name, {}), **params})


@pytest.fixture(scope="module")
def fitted(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    learners = {}
    for name in STRATEGIES:
        net = _net_for(name, tiny_net(max_epochs=1))
        learner = ActiveLearner(net, _strategy(name), random_state=0)
        learners[name] = learner.fit(X_init, y_init)
    return learners, X_pool[:60]


BAD_POOLS = {
    "empty pool": (lambda P: P[:0], 2, ValueError, "X_pool is empty"),
    "n zero": (lambda P: P, 0, ValueError, "n must be at least 1"),
    "n negative": (lambda P: P, -2, ValueError, "n must be at least 1"),
    "n not an integer": (lambda P: P, 1.5, TypeError, "n must be an integer"),
    "n larger than pool": (lambda P: P[:3], 4, ValueError, r"n=4 is larger than the pool"),
    "nan": (
        lambda P: np.where(np.arange(len(P))[:, None, None, None] == 5, np.nan, P),
        2,
        ValueError,
        "X_pool contains NaN or infinity",
    ),
    "inf": (lambda P: P + np.inf, 2, ValueError, "X_pool contains NaN or infinity"),
    "flattened rows": (
        lambda P: P.reshape(len(P), -1),
        2,
        ValueError,
        r"X_pool has rows of shape \(64,\)",
    ),
    "wrong image size": (
        lambda P: P[:, :, :7, :7],
        2,
        ValueError,
        r"X_pool has rows of shape \(1, 7, 7\)",
    ),
    "one dimension": (lambda P: P[:, 0, 0, 0], 2, ValueError, "X_pool must have shape"),
    "strings": (lambda P: P.astype(str), 2, TypeError, "X_pool must hold numbers"),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("case", sorted(BAD_POOLS))
def test_bad_query(fitted, name, case):
    learners, pool = fitted
    learner = learners[name]
    make_pool, n, exc, message = BAD_POOLS[case]
    before = snapshot(learner)
    with pytest.raises(exc, match=message):
        learner.query(make_pool(pool), n)
    assert snapshot(learner) == before


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_n_larger_than_candidates_and_bad_candidates(fitted, name):
    learners, pool = fitted
    learner = learners[name]
    before = snapshot(learner)
    learner.set_params(query_strategy__candidates=10)
    with pytest.raises(ValueError, match=r"n=11 is larger than candidates=10"):
        learner.query(pool, 11)
    learner.set_params(query_strategy__candidates=0.5)
    with pytest.raises(ValueError, match="candidates must be a positive integer or None"):
        learner.query(pool, 1)
    learner.set_params(query_strategy__candidates=None)
    assert snapshot(learner) == before


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_candidates_larger_than_pool_warns_and_uses_the_pool(fitted, name):
    strategy = _strategy(name, candidates=1000, random_state=0)
    learners, pool = fitted
    with pytest.warns(UserWarning, match=r"candidates=1000 is larger than the pool \(60 rows\)"):
        idx = strategy.select(learners[name].estimator_, pool, 3, X_labeled=pool[:5])
    assert len(set(idx.tolist())) == 3


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_float64_pool_just_works(fitted, name):
    learners, pool = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idx = _strategy(name, random_state=0).select(
            learners[name].estimator_, pool.astype(np.float64), 3, X_labeled=pool[:5]
        )
    assert len(set(idx.tolist())) == 3


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_bad_teach_labels(fitted, name):
    learners, pool = fitted
    learner = learners[name]
    before = snapshot(learner)
    with pytest.raises(ValueError, match=r"y has labels \[10\] outside the classes"):
        learner.teach(pool[:2], [3, 10])
    with pytest.raises(ValueError, match=r"y has labels \['3', 'x'\] outside the classes"):
        learner.teach(pool[:2], ["3", "x"])
    assert snapshot(learner) == before


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_unfitted_estimator(digits_split, name):
    pool = digits_split[2][:20]
    with pytest.raises(NotFittedError):
        _strategy(name).select(tiny_net(), pool, 2)
    learner = ActiveLearner(tiny_net(), _strategy(name))
    with pytest.raises(NotFittedError):
        learner.query(pool, 2)


@pytest.mark.parametrize("name", sorted(TORCH_ONLY))
def test_estimator_of_the_wrong_kind(digits_split, name):
    X_init, y_init, X_pool, *_ = digits_split
    flat_init, flat_pool = X_init.reshape(len(X_init), -1), X_pool.reshape(len(X_pool), -1)
    learner = ActiveLearner(LogisticRegression(max_iter=200), _strategy(name)).fit(
        flat_init, y_init
    )
    before = snapshot(learner)
    expected = type(learner.query_strategy_).__name__
    with pytest.raises(TypeError, match=f"estimator: {expected} needs a"):
        learner.query(flat_pool[:30], 2)
    assert snapshot(learner) == before


def _empty_and_unsized_datasets():
    import torch
    from torch.utils.data import IterableDataset, TensorDataset

    class Stream(IterableDataset):
        def __iter__(self):
            return iter([])

    return [TensorDataset(torch.zeros(0, 1, 8, 8)), Stream()]


@pytest.mark.parametrize("which", ["empty", "unsized"])
def test_an_empty_or_unsized_torch_dataset_gets_the_learners_error_everywhere(which):
    from skactive.embeddings import Embedding
    from skactive.pretraining import pretrain_contrastive
    from skactive.strategies import CoreSet, TypiClust

    X, y = load_digits_images()
    net = make_net("lenet5", image_size=8, max_epochs=1)
    learner = ActiveLearner(net, random_state=0).fit(X[:30], y[:30])
    dataset = dict(zip(["empty", "unsized"], _empty_and_unsized_datasets(), strict=True))[which]
    expected = (ValueError, "is empty") if which == "empty" else (TypeError, "map-style Dataset")
    calls = {
        "X_pool": lambda d: learner.query(d, n=1),
        "X": lambda d: learner.teach(d, []),
        "X ": lambda d: Embedding(learner.estimator_).fit(d),
        "X_pool ": lambda d: TypiClust().select(None, d, 1),
        " X_pool": lambda d: CoreSet().select(learner.estimator_, d, 1, X_labeled=X[:30]),
        " X": lambda d: pretrain_contrastive(net, d, n_epochs=1),
    }
    for name, call in calls.items():
        with pytest.raises(expected[0], match=f"^{name.strip()} .*{expected[1]}"):
            call(dataset)
    with pytest.raises(TypeError, match="X: predictions take an array"):
        learner.predict(dataset)
    assert len(learner.y_labeled_) == 30  # nothing changed


@pytest.mark.parametrize("n_jobs", [10**7, -(10**7), 500_001])
def test_an_n_jobs_joblib_cannot_take_is_refused_by_name(n_jobs):
    from skactive import Committee
    from skactive.param_validation import InvalidParameterError
    from skactive.strategies import EntropySampling

    X, y = load_digits_images()
    learner = ActiveLearner(LogisticRegression(max_iter=200), random_state=0)
    learner.fit(X[:40].reshape(40, -1), y[:40])
    with pytest.raises(InvalidParameterError, match="n_jobs must be None or a non-zero integer"):
        EntropySampling(n_jobs=n_jobs).select(learner.estimator_, X[40:90].reshape(50, -1), 3)
    with pytest.raises(InvalidParameterError, match="n_jobs must be"):
        Committee(LogisticRegression(), n_jobs=n_jobs).fit(X[:40].reshape(40, -1), y[:40])
