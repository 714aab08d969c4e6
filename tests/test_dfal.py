import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skactive import ActiveLearner
from skactive.attacks import deepfool, deepfool_screen
from skactive.datasets import load_digits_images
from skactive.strategies import DFAL

from .conftest import NoInverse, snapshot, tiny_net


@pytest.fixture(scope="module")
def trained(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    net = tiny_net(max_epochs=10, batch_size=16).fit(X_init, y_init)
    return net, X_pool[:300], y_pool[:300]


def test_selects_the_smallest_perturbations(trained):
    net, X_pool, _ = trained
    strategy = DFAL(batch_size=64, screen=None)
    idx = strategy.select(net, X_pool, 8)
    norms = deepfool(net, X_pool).norms
    assert_allclose(strategy.scores_, norms, rtol=1e-4)
    assert_array_equal(np.sort(idx), np.sort(np.argsort(norms)[:8]))
    assert np.all(np.diff(strategy.scores_[idx]) >= 0)  # closest first
    assert strategy.n_not_converged_ == int(np.isinf(norms).sum())


def test_adversarial_examples_are_misclassified_twins(trained):
    net, X_pool, _ = trained
    strategy = DFAL(clip=(0.0, 1.0))
    idx = strategy.select(net, X_pool, 6)
    adv = strategy.adversarial_examples_
    assert adv.shape == (6, 1, 8, 8) and adv.min() >= 0 and adv.max() <= 1
    assert (net.predict(adv) != net.predict(X_pool[idx])).all()
    assert strategy.extras_.n_twins == 6
    assert_array_equal(strategy.extras_.twin_sources, np.arange(6))


def test_reproducible_candidates(trained):
    net, X_pool, _ = trained
    first, second, other = (DFAL(candidates=100, random_state=s) for s in (4, 4, 5))
    assert_array_equal(first.select(net, X_pool, 5), second.select(net, X_pool, 5))
    assert_array_equal(first.scores_, second.scores_)
    other.select(net, X_pool, 5)
    assert len(other.candidates_) == 100
    assert not np.array_equal(other.candidates_, first.candidates_)
    assert set(first.indices_) <= set(first.candidates_)


def test_non_converging_rows_rank_last(trained):
    net, X_pool, _ = trained
    strategy = DFAL(max_iter=1, screen=None)
    idx = strategy.select(net, X_pool, 20)
    assert strategy.n_not_converged_ > 0
    assert np.isinf(strategy.scores_).sum() == strategy.n_not_converged_
    finite = np.isfinite(strategy.scores_)
    if finite.sum() >= 20:
        assert np.isfinite(strategy.scores_[idx]).all()


@pytest.mark.slow
def test_twins_through_the_learner(digits_split):
    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    learner = ActiveLearner(
        tiny_net(max_epochs=25, batch_size=16), DFAL(clip=(0, 1)), random_state=0
    )
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=10)
    learner.teach(X_pool[idx], y_pool[idx])
    n_twins = int(learner.query_strategy_.adversarial_converged_.sum())
    assert n_twins >= 8
    assert len(learner.y_twins_) == n_twins
    _, y, groups = learner.training_set()
    assert len(y) == len(y_init) + 10 + n_twins
    sources = learner.twin_sources_
    assert_array_equal(learner.y_twins_, learner.y_labeled_[sources])  # the oracle's label
    assert_array_equal(groups[-n_twins:], sources)  # same group as the source
    assert learner.history_[-1]["n_twins"] == n_twins
    assert learner.score(X_test, y_test) > 0.5  # five times chance: it learnt from them


def test_twins_off_is_the_ablation(digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    learner = ActiveLearner(tiny_net(max_epochs=2), DFAL(twins=False), random_state=0)
    learner.fit(X_init, y_init)
    idx = learner.query(X_pool, n=5)
    learner.teach(X_pool[idx], y_pool[idx])
    assert len(learner.y_twins_) == 0
    assert len(learner.training_set()[0]) == len(y_init) + 5


def test_pipeline_attacks_the_transformed_input_and_maps_twins_back(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    scale = FunctionTransformer(lambda X: X * 4.0 - 2.0, inverse_func=lambda X: (X + 2.0) / 4.0)
    pipe = Pipeline([("scale", scale), ("net", tiny_net(max_epochs=4))]).fit(X_init, y_init)
    strategy = DFAL(screen=None)
    idx = strategy.select(pipe, X_pool[:100], 4)
    in_net_space = deepfool(pipe[-1], X_pool[:100] * 4.0 - 2.0).norms
    assert_allclose(strategy.scores_, in_net_space, rtol=1e-4)
    twins = strategy.extras_.twins
    assert (pipe.predict(twins) != pipe.predict(X_pool[:100][idx])).all()


def test_pipeline_without_inverse_scores_but_skips_twins(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    pipe = Pipeline([("double", NoInverse()), ("net", tiny_net(max_epochs=2))])
    pipe.fit(X_init, y_init)
    strategy = DFAL()
    with pytest.warns(UserWarning, match="twins skipped because the Pipeline steps"):
        idx = strategy.select(pipe, X_pool[:50], 3)
    assert len(idx) == 3 and strategy.extras_.n_twins == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DFAL(twins=False).select(pipe, X_pool[:50], 3)


def test_needs_a_torch_network(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    flat = X_init.reshape(len(X_init), -1)
    learner = ActiveLearner(LogisticRegression(max_iter=300), DFAL()).fit(flat, y_init)
    before = snapshot(learner)
    with pytest.raises(TypeError, match="estimator: DFAL needs a fitted skorch NeuralNet"):
        learner.query(X_pool.reshape(len(X_pool), -1), 2)
    assert snapshot(learner) == before


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(norm=3), "norm must be 2 or numpy.inf"),
        (dict(max_iter=0), "max_iter must be a positive integer"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(twins="yes"), "twins must be True or False"),
        (dict(shortlist=0), "shortlist must be a positive integer"),
        (dict(screen="exact"), "screen must be one of"),
    ],
)
def test_parameters_validated_in_select(trained, params, message):
    net, X_pool, _ = trained
    strategy = DFAL(**params)  # the constructor accepts anything
    with pytest.raises(ValueError, match=message):
        strategy.select(net, X_pool, 2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_dfal_on_gpu_matches_cpu(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=3).fit(X_init, y_init)
    cpu = DFAL().select(net, X_pool[:200], 5)
    net.set_params(device="cuda")
    net.module_.to("cuda")
    strategy = DFAL()
    gpu = strategy.select(net, X_pool[:200], 5)
    assert_array_equal(np.sort(gpu), np.sort(cpu))
    assert strategy.adversarial_examples_.shape == (5, 1, 8, 8)


# -- the first-order screen ----------------------------------------------------


def test_the_screen_is_deepfools_exact_distance_on_a_linear_model():
    torch.manual_seed(0)
    module = torch.nn.Linear(6, 5).double()
    X = np.random.RandomState(0).randn(50, 6)
    screen = deepfool_screen(module, X, n_classes=4)
    exact = deepfool(module, X, overshoot=0.0).norms
    assert_allclose(screen, exact, atol=1.01e-4)  # DeepFool steps 1e-4 past the boundary
    # Runner-up only: never nearer than the nearest boundary of all classes.
    assert np.all(deepfool_screen(module, X) >= screen - 1e-12)


def test_screened_picks_come_from_the_shortlist_and_are_deepfools_order_there(trained):
    net, X_pool, _ = trained
    strategy = DFAL(screen="linear", shortlist=5, random_state=0)
    picks = strategy.select(net, X_pool, 6)
    short = strategy.shortlist_
    assert len(short) == 30  # enough of the 5 x 6 flipped: no doubling
    assert_array_equal(short, np.sort(np.argsort(strategy.screen_scores_, kind="stable")[:30]))
    assert set(picks.tolist()) <= set(short.tolist())
    assert np.isinf(np.delete(strategy.scores_, short)).all()
    norms = deepfool(net, X_pool[short]).norms
    assert_allclose(strategy.scores_[short], norms, rtol=1e-4)
    assert_array_equal(np.sort(picks), np.sort(short[np.argsort(norms, kind="stable")[:6]]))


def test_a_shortlist_as_large_as_the_pool_is_the_exact_path(trained):
    net, X_pool, _ = trained
    exact = DFAL(screen=None, random_state=0).select(net, X_pool[:50], 5)
    whole = DFAL(screen="linear", shortlist=10, random_state=0)
    assert_array_equal(whole.select(net, X_pool[:50], 5), exact)
    assert whole.screen_scores_ is None  # clamped: nothing was screened out


def test_auto_screens_the_whole_pool_but_not_a_candidate_subset(trained):
    net, X_pool, _ = trained
    whole = DFAL(random_state=0)
    whole.select(net, X_pool, 4)
    subset = DFAL(candidates=200, random_state=0)
    subset.select(net, X_pool, 4)
    assert whole.screen_scores_ is not None and subset.screen_scores_ is None


def test_the_shortlist_doubles_until_n_rows_flip(trained):
    net, X_pool, _ = trained
    exact = DFAL(max_iter=1, screen=None, random_state=0)
    exact.select(net, X_pool, 10)
    n_flip = int(np.isfinite(exact.scores_).sum())
    strategy = DFAL(max_iter=1, screen="linear", shortlist=1, random_state=0)
    strategy.select(net, X_pool, 10)
    flipped = np.isfinite(strategy.scores_[strategy.shortlist_]).sum()
    assert flipped >= min(10, n_flip)
    assert len(strategy.shortlist_) in (*(10 * 2**k for k in range(6)), len(X_pool))


def test_the_screen_is_trusted_only_when_the_shortlist_bears_it_out():
    from skactive.strategies.dfal import _screen_agrees

    estimate = np.linspace(0.1, 1.0, 100)
    # A trained net: exact norms a steady 2 % above the estimates.
    assert _screen_agrees(1.02 * estimate, estimate, 1.01, 10)
    # Ratios from 0.5 to 2: a row just left out may be closer than the 10th found.
    spread = estimate * np.random.RandomState(0).uniform(0.5, 2.0, 100)
    assert not _screen_agrees(spread, estimate, 1.01, 10)
    # Fewer than n rows flipped: never trusted.
    flipped_few = np.full(100, np.inf)
    flipped_few[:5] = 0.1
    assert not _screen_agrees(flipped_few, estimate, 1.01, 10)


@pytest.mark.slow
def test_a_screen_that_misjudges_widens_the_shortlist_until_it_holds():
    # Two epochs on 40 rows: the first-order step misjudges the boundary, and
    # a fixed shortlist of 2n kept 1 of exact DeepFool's 10 closest rows.
    X, y = load_digits_images()
    order = np.random.RandomState(0).permutation(len(X))
    net = tiny_net(max_epochs=2).fit(X[order[:40]], y[order[:40]])
    pool = X[order[300:]]
    exact = DFAL(screen=None, random_state=0)
    exact.select(net, pool, 10)
    screened = DFAL(screen="linear", shortlist=2, random_state=0)
    picks = screened.select(net, pool, 10)
    truth = set(np.argsort(exact.scores_, kind="stable")[:10].tolist())
    assert len(truth & set(picks.tolist())) >= 9
    assert len(screened.shortlist_) > 20  # it widened
