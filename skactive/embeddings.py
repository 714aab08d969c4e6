"""A network's representation of rows as a fitted, shareable, cached feature extractor.

TypiClust, ProbCover and core-set pick rows by their geometry in a feature
space. Early in a campaign the task net, trained on a few labels, gives a
poor one; a net pretrained without labels
(:func:`~skactive.pretraining.pretrain_contrastive`) gives a good one.
:class:`Embedding` turns such a net into one object that every strategy of
a campaign and the Label Studio bridge can share: ``embedding(rows)``
returns unit vectors, and rows seen before come from a cache instead of
another forward pass.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet

from skactive import _torch
from skactive._chunking import READ_CHUNK, chunk_slices
from skactive._files import load_pickle, save_pickle
from skactive._inference import embed_rows, unit_rows
from skactive._validation import check_rows
from skactive.param_validation import (
    BOOLEAN,
    SKLEARN_PARAMETER_CONSTRAINTS,
    Constraint,
    integer,
    validate_params,
)
from skactive.pretraining import load_pretrained


class Embedding(TransformerMixin, BaseEstimator):
    """Rows to (unit) vectors through a network's layers, cached by row content.

    ``fit`` prepares the network: an unfitted skorch net (such as the one
    :func:`~skactive.pretraining.pretrain_contrastive` returns) is
    initialised and receives its pretrained weights; a fitted one is used
    as it is. ``fit(X_pool)`` also embeds the pool once, so that every later
    call on rows of the pool (a query's candidates, the labelled rows) is a
    lookup. Rows are recognised by their content (a hash of their float32
    bytes), not their position, so a pool that shrinks or is reordered
    between queries still hits the cache.

    The object is callable, which is what ``embedding=`` of
    :class:`~skactive.strategies.TypiClust`,
    :class:`~skactive.strategies.ProbCover` and
    :class:`~skactive.strategies.CoreSet` expects.

    Parameters
    ----------
    net : skorch NeuralNet
        Fitted, or unfitted with :class:`~skactive.pretraining.PretrainedWeights`
        (an unfitted net without them embeds with random weights, a control).
    layer : str, default=None
        Submodule whose output is the embedding (None: the input of the last
        ``nn.Linear``, the trunk's output).
    normalize : bool, default=True
        Scale every vector to unit Euclidean norm (SimCLR's geometry; what
        ProbCover's radius assumes).
    batch_size : int, default=None
        Rows per forward pass (None: the device's default).
    cache : bool, default=True
        Keep every embedded row's vector for the next call.
    cache_dir : path-like, default=None
        Store the vectors of ``fit(X)`` in a memory-mapped file in this
        folder instead of memory (pools larger than memory).

    Attributes
    ----------
    network_ : skorch NeuralNet
        The initialised network that embeds.
    n_features_out_ : int
        Length of one vector.
    n_cached_ : int
        Rows held in the cache.

    Notes
    -----
    A fitted embedding is frozen, like scikit-learn's ``FrozenEstimator``:
    ``clone`` returns the object itself, so the clones of a strategy that
    holds it (the learner clones its strategy every query) share one
    network and one cache. ``fit`` prepares it again. The cache is not
    pickled (it refills on the next call); the network is.
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "net": [Constraint(lambda value: isinstance(value, NeuralNet), "a skorch NeuralNet")],
        "layer": [None, Constraint(lambda value: isinstance(value, str), "a submodule name")],
        "normalize": [BOOLEAN],
        "batch_size": [None, integer(1)],
        "cache": [BOOLEAN],
        "cache_dir": [None, Constraint(lambda value: isinstance(value, str | Path), "a path")],
    }

    def __init__(
        self,
        net,
        *,
        layer: str | None = None,
        normalize: bool = True,
        batch_size: int | None = None,
        cache: bool = True,
        cache_dir=None,
    ):
        self.net = net
        self.layer = layer
        self.normalize = normalize
        self.batch_size = batch_size
        self.cache = cache
        self.cache_dir = cache_dir

    def fit(self, X=None, y=None):
        """Prepare the network; with ``X``, embed and cache its rows.

        Parameters
        ----------
        X : array-like of shape (n_rows, ...), default=None
            The pool, embedded once now (None: embed on demand).
        y : ignored

        Returns
        -------
        self : Embedding
        """
        validate_params(self.get_params(deep=False), self._skactive_constraints)
        self.network_ = self._prepared_network()
        self._clear_cache()
        if X is not None:
            X = check_rows(X, name="X")
            keys = _digests(X)
            vectors = self._compute(X)
            self.n_features_out_ = vectors.shape[1]
            if self.cache:
                self._store(keys, self._persisted(vectors))
        return self

    def transform(self, X) -> np.ndarray:
        """Vectors of ``X``'s rows, shape ``(n_rows, n_features_out_)``, float32."""
        check_is_fitted(self, "network_")
        X = check_rows(X, name="X")
        if not self.cache:
            return self._compute(X)
        keys = _digests(X)
        known = self._keys
        positions = np.fromiter((known.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        missing = np.flatnonzero(positions < 0)
        if len(missing):
            # Duplicated rows among the misses are embedded once.
            new_keys, first = np.unique(np.asarray(keys, dtype=object)[missing], return_index=True)
            vectors = self._compute(np.asarray(X[missing[first]]))
            self._store(list(new_keys), vectors)
            positions[missing] = [known[k] for k in np.asarray(keys, dtype=object)[missing]]
        return np.asarray(self._vectors[positions])

    def __sklearn_clone__(self):
        """The object itself once fitted (shared, see Notes); a fresh copy before."""
        if hasattr(self, "network_"):
            return self
        return _unfitted_copy(self)

    def __call__(self, X) -> np.ndarray:
        """Same as :meth:`transform`, so the object can be a strategy's ``embedding=``."""
        return self.transform(X)

    @property
    def n_cached_(self) -> int:
        check_is_fitted(self, "network_")
        return len(self._keys)

    def save(self, path) -> Path:
        """Save the fitted embedding (its network and settings, not its cache).

        Written atomically, in the headed pickle format of
        :meth:`skactive.ActiveLearner.save`, so
        ``python -m skactive serve --embedding FILE`` can load it. A pickle:
        :meth:`load` must only be used on trusted files.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        path : Path
        """
        check_is_fitted(self, "network_")
        return save_pickle(self, path, kind="embedding")

    @classmethod
    def load(cls, path) -> Embedding:
        """Load an embedding saved with :meth:`save` (trusted files only).

        Raises
        ------
        ValueError
            If ``path`` is not a saved embedding or has an incompatible format.
        """
        return load_pickle(path, cls, kind="embedding")

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_vectors", None)
        state.pop("_keys", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "network_" in state:
            self._clear_cache()

    def _prepared_network(self) -> NeuralNet:
        if getattr(self.net, "initialized_", False):
            return self.net
        network = clone(self.net).initialize()
        load_pretrained(network)
        return network

    def _compute(self, X) -> np.ndarray:
        network = _torch.find_network(self.network_, what="Embedding")
        points = embed_rows(network, X, layer=self.layer, batch_size=self.batch_size)
        if self.normalize:
            points = unit_rows(points)
        vectors = points.astype(np.float32)
        self.n_features_out_ = vectors.shape[1]
        return vectors

    def _clear_cache(self) -> None:
        self._keys: dict[bytes, int] = {}
        self._vectors = np.empty((0, getattr(self, "n_features_out_", 0)), dtype=np.float32)

    def _store(self, keys, vectors: np.ndarray) -> None:
        start = len(self._vectors)
        for offset, key in enumerate(keys):
            self._keys.setdefault(key, start + offset)
        if start == 0:
            self._vectors = vectors
        else:
            self._vectors = np.concatenate([self._vectors, vectors])

    def _persisted(self, vectors: np.ndarray) -> np.ndarray:
        if self.cache_dir is None:
            return vectors
        folder = Path(self.cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"embedding-{id(self):x}-{len(vectors)}.f32"
        stored = np.memmap(path, dtype=np.float32, mode="w+", shape=vectors.shape)
        stored[:] = vectors
        stored.flush()
        return np.memmap(path, dtype=np.float32, mode="r", shape=vectors.shape)


def _unfitted_copy(embedding: Embedding) -> Embedding:
    """What ``clone`` makes of an unfitted embedding: its parameters cloned."""
    params = embedding.get_params(deep=False)
    return type(embedding)(**{name: clone(value, safe=False) for name, value in params.items()})


def _digests(X) -> list[bytes]:
    """A 16-byte hash of every row's float32 values, chunk by chunk."""
    keys = []
    for rows in chunk_slices(len(X), READ_CHUNK):
        block = np.ascontiguousarray(np.asarray(X[rows]), dtype=np.float32)
        flat = block.reshape(len(block), -1)
        keys += [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
    return keys


def flattened_rows(X) -> np.ndarray:
    """The rows themselves as vectors (float32, one per row): the pixels as an embedding.

    The embedding of a cold start without pretraining, and the baseline a
    pretrained :class:`Embedding` should beat.
    """
    X = check_rows(X, name="X")
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)
