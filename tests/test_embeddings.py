"""The shareable, cached embedding: known vectors, the cache, pickling, and strategies on it."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skactive import ActiveLearner
from skactive._inference import embed_rows
from skactive.embeddings import Embedding, flattened_rows
from skactive.experiments.registry import make_initial_strategy, with_embedding
from skactive.param_validation import InvalidParameterError
from skactive.pretraining import pretrain_contrastive
from skactive.simulation import draw_initial_set
from skactive.strategies import (
    CoreSet,
    Diversified,
    EntropySampling,
    ProbCover,
    Schedule,
    TypiClust,
)

from .conftest import tiny_net


@pytest.fixture(scope="module")
def pretrained(digits_split):
    return pretrain_contrastive(
        tiny_net(max_epochs=3), digits_split[2][:256], n_epochs=2, batch_size=64, random_state=0
    )


class _CountingForward(torch.nn.Module):
    """Counts the rows that pass through the wrapped module."""

    def __init__(self, module):
        super().__init__()
        self.module, self.rows = module, 0

    def forward(self, x):
        self.rows += len(x)
        return self.module(x)


def _counting(embedding):
    counter = _CountingForward(embedding.network_.module_)
    embedding.network_.module_ = counter
    return counter


def test_vectors_are_the_trunk_output_scaled_to_unit_norm(pretrained, digits_split):
    X = digits_split[2][:50]
    embedding = Embedding(pretrained).fit()
    vectors = embedding(X)
    raw = embed_rows(embedding.network_, X)
    assert vectors.dtype == np.float32 and vectors.shape == (50, raw.shape[1])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
    state = dict(pretrained.callbacks)["pretrained_weights"].state_dict
    for name, value in state.items():
        torch.testing.assert_close(embedding.network_.module_.state_dict()[name], value)
    unscaled = Embedding(pretrained, normalize=False).fit()(X)
    np.testing.assert_allclose(unscaled, raw, rtol=1e-5, atol=1e-6)


def test_rows_of_the_fitted_pool_are_looked_up_by_content(pretrained, digits_split):
    X_pool = digits_split[2][:200]
    embedding = Embedding(pretrained).fit(X_pool)
    expected = embedding.transform(X_pool)
    counter = _counting(embedding)
    order = np.random.RandomState(0).permutation(200)[:120]
    np.testing.assert_array_equal(embedding(X_pool[order]), expected[order])
    assert counter.rows == 0 and embedding.n_cached_ == 200
    # New rows pass through the network once, then come from the cache.
    fresh = digits_split[2][200:230]
    first = embedding(np.concatenate([fresh, fresh[:5]]))
    assert counter.rows == 30 and embedding.n_cached_ == 230
    np.testing.assert_array_equal(first[30:], first[:5])
    np.testing.assert_array_equal(embedding(fresh), first[:30])
    assert counter.rows == 30


def test_without_a_cache_every_call_embeds(pretrained, digits_split):
    X = digits_split[2][:40]
    embedding = Embedding(pretrained, cache=False).fit(X)
    counter = _counting(embedding)
    embedding(X)
    embedding(X)
    assert counter.rows == 80


def test_a_memory_mapped_cache_holds_the_pool(pretrained, digits_split, tmp_path):
    X_pool = digits_split[2][:100]
    in_memory = Embedding(pretrained).fit(X_pool)
    on_disk = Embedding(pretrained, cache_dir=tmp_path).fit(X_pool)
    assert isinstance(on_disk._vectors, np.memmap) and any(tmp_path.iterdir())
    np.testing.assert_array_equal(on_disk(X_pool[::-1]), in_memory(X_pool[::-1]))


def test_pickles_and_clones_embed_the_same_and_drop_the_cache(pretrained, digits_split):
    X = digits_split[2][:60]
    embedding = Embedding(pretrained).fit(X)
    restored = pickle.loads(pickle.dumps(embedding))
    assert restored.n_cached_ == 0
    np.testing.assert_allclose(restored(X), embedding(X), atol=1e-6)
    assert clone(embedding) is embedding  # frozen once fitted
    refitted = clone(Embedding(pretrained)).fit()
    np.testing.assert_allclose(refitted(X), embedding(X), atol=1e-6)


def test_save_and_load_embed_the_same_and_refuse_other_files(pretrained, digits_split, tmp_path):
    X = digits_split[2][:30]
    embedding = Embedding(pretrained).fit(X)
    path = embedding.save(tmp_path / "simclr.embedding")
    loaded = Embedding.load(path)
    np.testing.assert_allclose(loaded(X), embedding(X), atol=1e-6)
    learner_file = ActiveLearner(tiny_net()).save(tmp_path / "campaign.skactive")
    with pytest.raises(ValueError, match="is not a saved skactive embedding"):
        Embedding.load(learner_file)
    with pytest.raises(Exception, match="not fitted"):
        Embedding(pretrained).save(tmp_path / "unfitted.embedding")
    assert not (tmp_path / "unfitted.embedding").exists()


def test_a_fitted_net_is_used_as_it_is(digits_split):
    X_init, y_init, X_pool, *_ = digits_split
    net = tiny_net(max_epochs=2).fit(X_init, y_init)
    np.testing.assert_allclose(
        Embedding(net, normalize=False).fit()(X_pool[:20]), embed_rows(net, X_pool[:20]), atol=1e-6
    )


def test_bad_input_is_named(pretrained, digits_split):
    with pytest.raises(InvalidParameterError, match="net"):
        Embedding("lenet5").fit()
    with pytest.raises(InvalidParameterError, match="batch_size"):
        Embedding(pretrained, batch_size=0).fit()
    with pytest.raises(ValueError, match="layer='nope'"):
        Embedding(pretrained, layer="nope").fit(digits_split[2][:10])
    with pytest.raises(Exception, match="not fitted"):
        Embedding(pretrained).transform(digits_split[2][:10])


@pytest.mark.parametrize(
    "strategy",
    [
        TypiClust(random_state=0),
        ProbCover(delta=0.6, random_state=0),
        CoreSet(random_state=0),
    ],
    ids=["typiclust", "probcover", "coreset"],
)
def test_the_very_first_query_needs_no_labels(pretrained, digits_split, strategy):
    X_pool = digits_split[2][:300]
    embedding = Embedding(pretrained).fit(X_pool)
    picks = clone(strategy).set_params(embedding=embedding).select(None, X_pool, 10)
    assert len(np.unique(picks)) == 10
    # The same picks from the rows' content, whatever their order.
    order = np.random.RandomState(1).permutation(300)
    if not isinstance(strategy, CoreSet):  # k-center starts from a random row
        again = clone(strategy).set_params(embedding=embedding).select(None, X_pool[order], 10)
        np.testing.assert_array_equal(np.sort(order[again]), np.sort(picks))


def test_strategies_on_a_shared_embedding_through_the_learner(pretrained, digits_split):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    embedding = Embedding(pretrained).fit(X_pool)
    for strategy in (
        TypiClust(embedding=embedding, random_state=0),
        Diversified(EntropySampling(), factor=3, embedding=embedding, random_state=0),
    ):
        learner = ActiveLearner(clone(pretrained), strategy, random_state=0)
        learner.fit(X_init, y_init)
        counter_before = embedding.n_cached_
        idx = learner.query(X_pool, n=8)
        learner.teach(X_pool[idx], y_pool[idx])
        assert len(np.unique(idx)) == 8 and len(learner.y_labeled_) == len(y_init) + 8
        # Pool rows and labelled rows drawn from the pool: nothing new embedded.
        assert embedding.n_cached_ <= counter_before + len(X_init)


def test_flattened_rows_are_the_pixels(digits_split):
    X = digits_split[2][:7]
    vectors = flattened_rows(X)
    assert vectors.shape == (7, 64) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[3], X[3].ravel())


def test_with_embedding_reaches_every_strategy_that_takes_one(pretrained):
    embedding = Embedding(pretrained)
    assert with_embedding(TypiClust(), embedding).embedding is embedding
    entropy = EntropySampling()
    assert with_embedding(entropy, embedding) is entropy  # takes none: unchanged
    schedule = with_embedding(Schedule([(TypiClust(), 30), (CoreSet(), None)]), embedding)
    assert all(stage.embedding is embedding for stage, _ in schedule.phases)
    assert with_embedding(TypiClust(), None).embedding is None


def test_initial_strategies_choose_rows_before_any_label(pretrained, digits_split):
    X_pool = digits_split[2][:300]
    assert make_initial_strategy("random", embedding=flattened_rows) is None
    # The random draw is the one every campaign has always used.
    np.testing.assert_array_equal(
        draw_initial_set(X_pool, 20, 4), np.random.RandomState(4).choice(300, 20, replace=False)
    )
    embedding = Embedding(pretrained).fit(X_pool)
    chooser = make_initial_strategy("typiclust", embedding=embedding)
    picks = draw_initial_set(X_pool, 20, 4, strategy=chooser)
    expected = TypiClust(embedding=embedding, random_state=4).select(None, X_pool, 20)
    np.testing.assert_array_equal(picks, expected)
    assert chooser.random_state is None  # the template is cloned, never seeded in place
    subset = make_initial_strategy("probcover", embedding=embedding, candidates=100)
    assert isinstance(subset, ProbCover) and subset.candidates == 100
    with pytest.raises(ValueError, match="initial_strategy: unknown 'badge'"):
        make_initial_strategy("badge", embedding=embedding)
