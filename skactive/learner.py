"""ActiveLearner: the meta-estimator that owns the labelled set."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    clone,
    is_regressor,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from skactive._campaign import (
    Campaign,
    LabeledSet,
)
from skactive._estimators import (
    estimator_input,
)
from skactive._files import load_pickle, save_pickle
from skactive._fitting import fit_campaign, refit_campaign
from skactive._record import campaign_from_record, campaign_record
from skactive._threads import library_threads
from skactive._unlabeled import UnlabeledPool
from skactive._validation import (
    check_keys,
    check_labeled_rows,
    check_labels,
    check_rows,
    is_torch_dataset,
)
from skactive.base import STRATEGY, QueryStrategy
from skactive.param_validation import (
    BOOLEAN,
    RANDOM_STATE,
    SKLEARN_PARAMETER_CONSTRAINTS,
    Constraint,
    check_estimator_params,
    integer,
    validate_params,
)


def _estimator_has(attr: str):
    def check(self) -> bool:
        est = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(est, attr)

    return check


def _state(name: str, doc: str):
    """A read-only fitted attribute that reads the campaign (AttributeError before fit)."""
    return property(lambda self: getattr(self._campaign, name), doc=doc)


def _labeled(name: str, doc: str):
    return property(lambda self: getattr(self._campaign.labeled, name), doc=doc)


class _FeatureRecorder(ClassifierMixin, BaseEstimator):
    """Receives what ``validate_data(reset=True)`` records, so a failed fit records nothing."""


def _is_classifier(estimator) -> bool:
    return hasattr(estimator, "fit") and not is_regressor(estimator)


def _estimator_mistake(estimator) -> str:
    if hasattr(estimator, "fit"):
        return f"{type(estimator).__name__} is a regressor"
    return f"{type(estimator).__name__} has no fit method"


def _strategy_mistake(strategy) -> str:
    if isinstance(strategy, type) and issubclass(strategy, QueryStrategy):
        return f"pass {strategy.__name__}(), not the class"
    return f"a {type(strategy).__name__} is not one"


_ESTIMATOR = Constraint(_is_classifier, "a scikit-learn classifier", explain=_estimator_mistake)
_QUERY_STRATEGY = Constraint(
    STRATEGY.accepts, "a skactive QueryStrategy", explain=_strategy_mistake
)


class ActiveLearner(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Pool-based active learning around any scikit-learn classifier.

    The learner owns the labelled set. :meth:`fit` starts it, :meth:`query`
    asks the strategy which pool rows to label next, and :meth:`teach` adds
    the oracle's labels and refits. Rows a strategy derives from the queried
    ones (DFAL's adversarial *twins*, CEAL's *pseudo-labels*, see
    :class:`~skactive.TrainingExtras`) are added automatically.

    Labels are encoded to ``0 .. n_classes - 1`` before they reach the wrapped
    estimator, so skorch nets always see valid class indices, even when a
    class is absent from the labelled set (pass ``classes`` for that).

    Parameters
    ----------
    estimator : classifier
        Unfitted template: a scikit-learn classifier, a skorch
        ``NeuralNetClassifier`` or a ``Pipeline`` ending in either. It is
        cloned by :meth:`fit` and never modified.
    query_strategy : QueryStrategy, default=None
        How to choose rows; ``None`` means
        :class:`~skactive.strategies.EntropySampling`.
    classes : array-like, default=None
        All class labels the oracle may give. Needed when the initial
        labelled set misses a class; by default the labels seen in ``fit``.
    warm_start : bool, default=False
        After ``teach``, continue training the current model on the whole
        training set (skorch ``partial_fit``; other estimators are refitted
        without cloning, honouring their own ``warm_start``) instead of
        training a fresh clone from scratch. Either way every labelled row
        is used.
    warm_epochs : int, default=None
        Epochs of a warm refit of a skorch net (its ``max_epochs`` for
        that refit; a fresh fit keeps the estimator's own). None: the
        net's ``max_epochs``. Used only with ``warm_start=True``; a warm
        refit of a few epochs is what a labelling service runs between
        fresh ones.
    semi_supervised : bool, default=False
        Also hand the estimator the unlabelled pool, with scikit-learn's
        label ``-1`` (the convention of ``SelfTrainingClassifier`` and
        :class:`~skactive.semi_supervised.LabelPropagationNet`): every fit
        and refit trains on the training set plus the rows of the last
        :meth:`query`'s pool that nobody has labelled since (before the
        first query, ``fit``'s ``unlabeled`` argument). The learner keeps a
        reference to the pool, not a copy; pickling the learner stores it.
    random_state : int, RandomState instance or None, default=None
        Drives every random choice: torch's initialisation and shuffling
        during each refit, any ``random_state`` left ``None`` inside the
        estimator (a :class:`~skactive.Committee`'s, a forest's), and the
        strategy's sampling in each round (it then overrides the strategy's
        own ``random_state``).

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    query_strategy_ : QueryStrategy
        The strategy as used in the last query (its fitted attributes
        describe that query).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    row_shape_ : tuple
        Shape of one sample.
    X_labeled_, y_labeled_ : ndarray
        Every row the oracle labelled (the initial set first); only
        :meth:`forget` removes rows, :meth:`relabel` changes labels.
    X_twins_, y_twins_ : ndarray
        Derived rows kept permanently, with their labels.
    twin_sources_ : ndarray of int
        For each twin, the index of its source row in ``X_labeled_``.
    X_pseudo_, y_pseudo_ : ndarray
        Pseudo-labelled rows of the last refit (replaced every round).
    history_ : list of dict
        One entry per query: ``round``, ``indices``, ``scores`` of the
        selected rows (None if the strategy does not score), ``n_labeled``
        before the query, ``select_seconds``; ``teach`` adds ``n_taught``,
        ``n_twins`` and ``n_pseudo``.
    n_iter_ : int
        Number of ``teach`` rounds so far.
    n_features_in_ : int
        ``X.shape[1]`` of the training data (scikit-learn convention).

    Notes
    -----
    The learner is a facade: everything it has learnt lives in one immutable
    campaign state (``skactive._campaign.Campaign``), and each of :meth:`fit`,
    :meth:`query`, :meth:`teach` and :meth:`refit` validates its input,
    computes a new state, fits if needed and then replaces the state in one
    assignment.

    If a refit inside :meth:`teach` raises (out of memory, a keyboard
    interrupt, which skorch alone would swallow), the newly taught rows are
    already in the labelled set, the previous model stays in ``estimator_``
    untouched (a warm refit trains a copy), the error propagates, and
    :meth:`refit` retries. A failed :meth:`fit` leaves the learner as it was.

    Parameters set with ``set_params`` after ``fit`` take effect without a
    new ``fit``: ``query_strategy`` (and ``query_strategy__*``) and
    ``random_state`` at the next :meth:`query`, the strategy's round state
    carried over when its class is unchanged; ``estimator`` (and
    ``estimator__*``), ``classes`` and ``warm_start`` at the next refit
    (:meth:`teach` or :meth:`refit`). ``classes`` may grow, never shrink.

    Inputs of any numeric dtype are accepted: a skorch net receives them in
    its own dtype (float32), and in a ``Pipeline`` ending in a net the
    learner inserts an :class:`~skactive.preprocessing.AsType` step before
    the net. A skorch ``NeuralNetBinaryClassifier`` (one output unit) works
    for two classes.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skactive import ActiveLearner
    >>> from skactive.datasets import load_digits_images
    >>> X, y = load_digits_images()
    >>> X = X.reshape(len(X), -1)
    >>> learner = ActiveLearner(LogisticRegression(max_iter=500), random_state=0)
    >>> learner = learner.fit(X[:30], y[:30])
    >>> idx = learner.query(X[30:], n=5)
    >>> learner = learner.teach(X[30:][idx], y[30:][idx])
    >>> len(learner.y_labeled_)
    35
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "estimator": [_ESTIMATOR],
        "query_strategy": [_QUERY_STRATEGY, None],
        "warm_start": [BOOLEAN],
        "warm_epochs": [integer(1), None],
        "semi_supervised": [BOOLEAN],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        estimator,
        query_strategy: QueryStrategy | None = None,
        *,
        classes=None,
        warm_start: bool = False,
        warm_epochs: int | None = None,
        semi_supervised: bool = False,
        random_state=None,
    ):
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.classes = classes
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.semi_supervised = semi_supervised
        self.random_state = random_state

    # -- fitted attributes: views of the campaign ------------------------------

    estimator_ = _state("estimator", "The fitted model.")
    query_strategy_ = _state("strategy", "The strategy as used in the last query.")
    row_shape_ = _state("row_shape", "Shape of one sample.")
    n_iter_ = _state("n_iter", "Number of teach rounds so far.")
    n_features_in_ = _state("n_features_in", "X.shape[1] of the training data.")
    classes_ = property(lambda self: self._campaign.classes.classes, doc="Class labels.")
    X_labeled_ = _labeled("X", "Every row the oracle labelled (only forget removes rows).")
    y_labeled_ = _labeled("y", "The oracle's labels of ``X_labeled_``.")
    X_twins_ = _labeled("twins", "Derived rows kept permanently.")
    y_twins_ = _labeled("twin_y", "The twins' labels (their sources').")
    twin_sources_ = _labeled("twin_sources", "Each twin's source row in ``X_labeled_``.")
    X_pseudo_ = _labeled("pseudo_X", "Pseudo-labelled rows of the last refit.")
    y_pseudo_ = _labeled("pseudo_y", "Their labels.")

    @property
    def keys_(self) -> np.ndarray:
        """The key of each row of ``X_labeled_`` (None where it has none), an object array.

        Rows get keys from :meth:`teach` (``keys=``) or :meth:`assign_keys`;
        :meth:`rows_of` finds them, whatever :meth:`forget` removed since.
        """
        keys = np.empty(len(self._campaign.labeled.y), dtype=object)
        keys[:] = self._campaign.labeled.key_list()
        return keys

    def rows_of(self, keys) -> np.ndarray:
        """The positions in ``X_labeled_`` of the rows named ``keys``, in their order.

        For :meth:`relabel` and :meth:`forget` by key:
        ``learner.forget(learner.rows_of([task_id]))``.

        Raises
        ------
        ValueError
            Naming the keys no labelled row has.
        """
        check_is_fitted(self)
        return self._campaign.labeled.positions_of(list(keys))

    def assign_keys(self, indices, keys) -> ActiveLearner:
        """Name the labelled rows at ``indices`` with ``keys`` (nothing is refitted).

        For rows labelled before they had a key, e.g. the initial set of
        ``fit``. Keys are distinct among the labelled rows.

        Parameters
        ----------
        indices : array-like of int of shape (n_rows,)
            Distinct positions in ``X_labeled_``.
        keys : sequence of shape (n_rows,)
            Hashable keys (a task id, a file name).

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        labeled = self._campaign.labeled
        rows = check_labeled_rows(indices, len(labeled.y), name="indices")
        renamed = set(rows.tolist())
        taken = [k for r, k in enumerate(labeled.key_list()) if k is not None and r not in renamed]
        keys = check_keys(keys, len(rows), taken)
        self._campaign = replace(self._campaign, labeled=labeled.with_keys(rows, keys))
        return self

    @property
    def history_(self) -> list:
        """One entry per query (see the class docstring); a copy."""
        return list(self._campaign.history)

    @property
    def feature_names_in_(self) -> np.ndarray:
        """Column names of a DataFrame given to ``fit`` (absent otherwise)."""
        names = self._campaign.feature_names_in
        if names is None:
            raise AttributeError("feature_names_in_: fit was given no column names")
        return names

    # -- fitting -------------------------------------------------------------

    def fit(self, X, y, *, unlabeled=None) -> ActiveLearner:
        """Start a campaign: clone the estimator and fit it on ``X, y``.

        Any previous labelled set, twins and history are discarded. If
        ``fit`` raises (bad input, a failing estimator, a keyboard
        interrupt), the learner is left exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Initial labelled rows (2-D features or images).
        y : array-like of shape (n_samples,)
            Their labels.
        unlabeled : array-like of shape (n_pool, ...), default=None
            With ``semi_supervised=True``: the unlabelled rows of the first
            fit (later fits use the pool of the last :meth:`query`).

        Returns
        -------
        self : ActiveLearner
        """
        check_estimator_params(self)
        recorder = _FeatureRecorder()
        X, y = validate_data(recorder, X, y, allow_nd=True, dtype="numeric")
        check_classification_targets(y)
        started = Campaign.started(
            self.get_params(deep=False),
            LabeledSet.start(X, y),
            feature_names_in=getattr(recorder, "feature_names_in_", None),
            unlabeled=_initial_pool(self.semi_supervised, unlabeled, row_shape=X.shape[1:]),
        )
        self._campaign = fit_campaign(
            started, clone(self.estimator), warm=False, semi_supervised=bool(self.semi_supervised)
        )
        return self

    # -- fitting the wrapped estimator -------------------------------------

    def refit(self) -> ActiveLearner:
        """Refit the model on the current training set.

        Uses a fresh clone unless ``warm_start=True`` (then the current
        model, copied, trains on); parameters of the learner or of the
        estimator changed with ``set_params`` since the last fit take
        effect here, a changed ``estimator`` or ``classes`` through a fresh
        clone. Call it to retry after a refit inside :meth:`teach` failed.

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        check_estimator_params(self)
        self._campaign = refit_campaign(self._campaign, self.get_params(deep=False))
        return self

    # -- the active-learning loop -----------------------------------------

    def query(self, X_pool, n: int = 1) -> np.ndarray:
        """Indices of the ``n`` pool rows the oracle should label next.

        Parameters changed with ``set_params`` since the last query
        (``query_strategy``, ``query_strategy__*``, ``random_state``) take
        effect here. If the strategy raises, the learner is unchanged.

        Parameters
        ----------
        X_pool : array-like of shape (n_pool, ...)
            Unlabelled rows, each shaped like the training rows.
        n : int, default=1
            Number of rows, ``1 <= n <= n_pool``.

        Returns
        -------
        indices : ndarray of shape (n,)
            Distinct indices into ``X_pool``, best first.
        """
        check_is_fitted(self)
        check_estimator_params(self)
        campaign = self._campaign
        X_pool = self._check_rows(X_pool, name="X_pool")
        params = self.get_params(deep=False)
        strategy = campaign.strategy_for_query(params)
        seed = campaign.base_seed_for(params)
        round_seed = campaign.round_seed("query", seed)
        if round_seed is not None and "random_state" in strategy.get_params():
            strategy.set_params(random_state=round_seed)
        start = time.perf_counter()
        # Read-only views: a strategy that normalises in place must not rewrite
        # the oracle's rows (or the caller's pool) for every later refit. The
        # thread block covers a meta-strategy's own work too (its select is
        # its own; the inner strategies' are covered by QueryStrategy).
        with library_threads():
            indices = strategy.select(
                campaign.estimator,
                _read_only(X_pool),
                n,
                X_labeled=_read_only(campaign.labeled.X),
                y_labeled=_read_only(campaign.classes.encode(campaign.labeled.y, name="y")),
            )
        seconds = time.perf_counter() - start
        pool = _pool_of(X_pool, name="X_pool") if self.semi_supervised else campaign.unlabeled
        self._campaign = campaign.queried(
            strategy=strategy,
            seed=seed,
            tracker=campaign.tracker.marked(params, "query_strategy", "random_state"),
            X_pool=X_pool,
            indices=indices,
            unlabeled=pool,
            seconds=seconds,
        )
        return indices

    def teach(self, X, y, *, refit: bool = True, keys=None) -> ActiveLearner:
        """Add oracle-labelled rows (and their twins) and refit.

        Rows returned by the last :meth:`query` bring along the twins the
        strategy made for them; an answer may come in pieces (several
        ``teach`` calls for one query), and twins of rows not yet taught
        wait until the next query. Pseudo-labels of the last query take part
        in every refit until the next query, except rows the oracle has
        labelled since. Nothing is ever removed from the labelled set: if
        the refit fails (an error, a keyboard interrupt), the taught rows
        stay, the previous model stays in ``estimator_`` and the error
        propagates; :meth:`refit` retries.

        Parameters
        ----------
        X : array-like of shape (n_new, ...)
            Newly labelled rows, usually ``X_pool[indices]``.
        y : array-like of shape (n_new,)
            Their labels, among ``classes_`` (or a grown ``classes``
            parameter, see :meth:`set_params`).
        refit : bool, default=True
            Refit now. ``False`` only records the labels (and twins): the
            model stays as it is until :meth:`refit` or the next ``teach``
            that refits, e.g. for a server that saves every answer at once
            and trains in the background.
        keys : sequence of shape (n_new,), default=None
            A name for each row (a task id, a file name), distinct among the
            labelled rows: :meth:`rows_of` finds the rows by it later, for
            :meth:`relabel` and :meth:`forget`.

        Returns
        -------
        self : ActiveLearner
        """
        check_is_fitted(self)
        check_estimator_params(self)
        _check_refit(refit)
        campaign = self._campaign
        X = self._check_rows(X, name="X")
        y = check_labels(y, len(X), name="y")
        if keys is not None:
            taken = [k for k in campaign.labeled.key_list() if k is not None]
            keys = check_keys(keys, len(X), taken)
        params = self.get_params(deep=False)
        classes = campaign.classes_for_fit(params)
        campaign.classes.encode(y, name="y", classes=classes)
        taught = campaign.taught(
            X, y, classes=classes, tracker=campaign.tracker.marked(params, "classes"), keys=keys
        )
        return self._committed(taught, refit=refit)

    def relabel(self, indices, y, *, refit: bool = True) -> ActiveLearner:
        """Replace the oracle's labels of rows it labelled before.

        For an oracle that corrects itself (an annotator who updates an
        answer): ``y_labeled_[indices]`` become ``y``, and the twins of
        those rows take the new labels too. The rows stay; only their
        labels change. Like :meth:`teach`, a failing refit keeps the new
        labels and the previous model.

        Parameters
        ----------
        indices : array-like of int of shape (n_rows,)
            Distinct positions in ``X_labeled_``.
        y : array-like of shape (n_rows,)
            The new labels, among ``classes_`` (or a grown ``classes``).
        refit : bool, default=True
            Refit now, or leave it to :meth:`refit` (see :meth:`teach`).

        Returns
        -------
        self : ActiveLearner
        """
        campaign, rows = self._correction(indices, refit)
        y = check_labels(y, len(rows), name="y")
        params = self.get_params(deep=False)
        classes = campaign.classes_for_fit(params)
        campaign.classes.encode(y, name="y", classes=classes)
        relabeled = campaign.relabeled(
            rows, y, classes=classes, tracker=campaign.tracker.marked(params, "classes")
        )
        return self._committed(relabeled, refit=refit)

    def forget(self, indices, *, refit: bool = True) -> ActiveLearner:
        """Remove rows the oracle labelled, with their twins, at the oracle's request.

        The one way a label leaves the learner: for an oracle that
        withdraws an answer (an annotation deleted in a labelling tool).
        Later rows move up, so ``X_labeled_`` positions after the removed
        ones shift. At least one row must stay.

        Parameters
        ----------
        indices : array-like of int of shape (n_rows,)
            Distinct positions in ``X_labeled_``.
        refit : bool, default=True
            Refit now, or leave it to :meth:`refit` (see :meth:`teach`).

        Returns
        -------
        self : ActiveLearner
        """
        campaign, rows = self._correction(indices, refit)
        if len(rows) == len(campaign.labeled.y):
            raise ValueError(
                f"indices: forgetting all {len(rows)} labelled rows would leave nothing to "
                "train on; start a new campaign with fit instead"
            )
        return self._committed(campaign.without(rows), refit=refit)

    def _correction(self, indices, refit) -> tuple[Campaign, np.ndarray]:
        """The campaign and the labelled rows ``indices`` names, for relabel and forget."""
        check_is_fitted(self)
        check_estimator_params(self)
        _check_refit(refit)
        campaign = self._campaign
        return campaign, check_labeled_rows(indices, len(campaign.labeled.y), name="indices")

    def _committed(self, changed: Campaign, *, refit: bool) -> ActiveLearner:
        """Take ``changed`` as the campaign, refitted first if ``refit``."""
        if not refit:
            self._campaign = changed
            return self
        try:
            refitted = refit_campaign(changed, self.get_params(deep=False))
        except BaseException:
            # The oracle's labels are kept whatever the refit did; the model is the previous one.
            self._campaign = changed
            raise
        self._campaign = refitted
        return self

    def _check_rows(self, X, *, name: str):
        """Validate rows like ``predict`` does: shape, values and feature names."""
        rows = check_rows(X, name=name, feature_shape=self.row_shape_)
        if not is_torch_dataset(X) and not isinstance(X, np.ndarray):
            # A DataFrame with reordered or renamed columns is refused, not permuted.
            validate_data(self, X, reset=False, skip_check_array=True)
        return rows

    def training_set(self, *, include_pseudo: bool = False):
        """Everything the model trains on, with groups for cross-validation.

        Parameters
        ----------
        include_pseudo : bool, default=False
            Also return the current pseudo-labelled rows (each in its own
            group). They are model-given labels, so they are left out by
            default, e.g. when transferring queries to another network.

        Returns
        -------
        X : ndarray of shape (n_rows, ...)
            Labelled rows, then twins (then pseudo-labelled rows).
        y : ndarray of shape (n_rows,)
        groups : ndarray of shape (n_rows,)
            Row ``i`` of the labelled set is group ``i``; a twin has the group
            of its source, so a ``GroupKFold`` never separates them.
        """
        check_is_fitted(self, "X_labeled_")
        return self._campaign.labeled.training_set(include_pseudo=include_pseudo)

    def record(self) -> dict:
        """The campaign as a record: arrays, plain metadata and its three objects.

        The one layout of every saved campaign (:mod:`skactive.persistence`
        describes it); :meth:`restore` takes it back. The arrays are the
        campaign's own, not copies: do not modify them.

        Returns
        -------
        record : dict
        """
        check_is_fitted(self, "X_labeled_")
        return campaign_record(self._campaign)

    def restore(self, record: dict) -> ActiveLearner:
        """Continue a campaign from its saved record, without refitting.

        For loaders of saved campaigns (:func:`skactive.persistence.load_weights`):
        the learner, configured like the one that was saved, takes the
        campaign ``record`` describes; what the record lacks (a weights
        folder's strategy, an older folder's history) is taken from the
        learner's parameters, as a new campaign would take it.

        Parameters
        ----------
        record : dict
            A campaign record (:mod:`skactive.persistence` describes its
            layout) whose ``objects["estimator"]`` is fitted on its
            labelled set and trained on its ``classes_``.

        Returns
        -------
        self : ActiveLearner

        Raises
        ------
        ValueError
            If the record is of another version or lacks an array.
        """
        check_estimator_params(self)
        self._campaign = campaign_from_record(record, self.get_params(deep=False))
        return self

    def __copy__(self):
        # The campaign is immutable, so a shallow copy shares it as it is; only
        # pickling (files, deep copies) goes through the record.
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __getstate__(self):
        # Pickle sees the campaign as a record, never its classes: every file
        # holding a learner (save, the checkpoint, the service) shares one layout.
        state = dict(super().__getstate__())  # may be ``__dict__`` itself: never edit it
        campaign = state.pop("_campaign", None)
        if campaign is not None:
            state["campaign_record"] = campaign_record(campaign)
        return state

    def __setstate__(self, state):
        state = dict(state)
        record = state.pop("campaign_record", None)
        super().__setstate__(state)  # files of learner version 2 hold ``_campaign`` itself
        if record is not None:
            self._campaign = campaign_from_record(record, self.get_params(deep=False))

    # -- persistence ---------------------------------------------------------

    def save(self, path) -> Path:
        """Save the learner (labelled set, twins, history, model, strategy state).

        The file is written atomically: a crash while saving leaves the
        previous file intact. It is a pickle, so :meth:`load` must only be
        used on trusted files. For files from elsewhere,
        :func:`skactive.persistence.save_weights` writes the labels as
        ``.npz`` without pickle and the network state as ``state_dict``
        files, read back only through ``torch.load(weights_only=True)`` (a
        restricted unpickler: tensors and plain containers, no code); its
        safety is that loader's.

        Parameters
        ----------
        path : path-like

        Returns
        -------
        path : Path
        """
        return save_pickle(self, path)

    @classmethod
    def load(cls, path) -> ActiveLearner:
        """Load a learner saved with :meth:`save` (trusted files only).

        The loaded learner continues where the saved one stopped: its next
        query equals what the original would have queried.

        Raises
        ------
        ValueError
            If ``path`` is not a saved learner or has an incompatible format.
        """
        return load_pickle(path, cls)

    # -- delegation ----------------------------------------------------------

    @available_if(_estimator_has("predict"))
    def predict(self, X) -> np.ndarray:
        """Predicted class labels of ``X`` (in the label space of ``y``)."""
        X = self._check_predict_input(X)
        with library_threads():
            encoded = np.asarray(self.estimator_.predict(X)).astype(np.intp)
        return self._campaign.classes.fitted[encoded]

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of ``X``, one column per entry of ``classes_``."""
        X = self._check_predict_input(X)
        with library_threads():
            proba = np.asarray(self.estimator_.predict_proba(X))
        return self._campaign.classes.align(proba, getattr(self.estimator_, "classes_", None))

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """Decision scores of ``X``, one column per entry of ``classes_``, in its order.

        The wrapped estimator's ``decision_function``; a class it never saw
        (declared with ``classes=`` or grown since the last fit) scores
        ``-inf``. With two classes, one score per row, as in scikit-learn.
        """
        X = self._check_predict_input(X)
        with library_threads():
            scores = self.estimator_.decision_function(X)
        return self._campaign.classes.align_decision(
            scores, getattr(self.estimator_, "classes_", None)
        )

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy on ``X, y`` (see ``ClassifierMixin.score``)."""
        return super().score(X, y, sample_weight=sample_weight)

    def _check_predict_input(self, X):
        check_is_fitted(self)
        if is_torch_dataset(X):
            raise TypeError(
                "X: predictions take an array of rows (a numpy.memmap for rows larger than "
                "memory); a torch Dataset is accepted as a pool, by query"
            )
        X = validate_data(self, X, reset=False, allow_nd=True, dtype="numeric")
        if tuple(X.shape[1:]) != self.row_shape_:
            raise ValueError(
                f"X has rows of shape {tuple(X.shape[1:])}, but the learner was fitted "
                f"on rows of shape {self.row_shape_}"
            )
        return estimator_input(self.estimator_, X)

    # -- helpers -------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_campaign")


def _check_refit(refit) -> None:
    validate_params({"refit": refit}, {"refit": [BOOLEAN]})


def _initial_pool(semi_supervised, unlabeled, *, row_shape) -> UnlabeledPool | None:
    if unlabeled is None:
        return None
    if not semi_supervised:
        raise ValueError(
            "unlabeled rows were given to fit but semi_supervised=False; set "
            "semi_supervised=True to train on them"
        )
    rows = check_rows(unlabeled, name="unlabeled", feature_shape=tuple(row_shape))
    return _pool_of(rows, name="unlabeled")


def _pool_of(rows, *, name: str) -> UnlabeledPool:
    if is_torch_dataset(rows) or not hasattr(rows, "dtype"):
        raise TypeError(
            f"{name}: semi_supervised=True needs the pool as an array or numpy.memmap, "
            f"got {type(rows).__name__}"
        )
    return UnlabeledPool(rows)


def _read_only(rows):
    """A view of ``rows`` that refuses writes (other pools pass as they are)."""
    if not isinstance(rows, np.ndarray):
        return rows
    view = rows.view()
    view.flags.writeable = False
    return view
