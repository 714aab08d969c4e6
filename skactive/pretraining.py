"""Self-supervised pretraining on the pool (DeepCluster, SimCLR) and nets that start from it.

References: M. Caron, P. Bojanowski, A. Joulin and M. Douze, "Deep Clustering
for Unsupervised Learning of Visual Features", ECCV 2018 (:func:`pretrain_deepcluster`),
used for active learning by O. Siméoni, M. Budnik, Y. Avrithis and G.
Gravier, "Rethinking deep active learning: Using unlabeled data at model
training", ICPR 2020; T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A
Simple Framework for Contrastive Learning of Visual Representations", ICML
2020 (:func:`pretrain_contrastive`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from skorch import NeuralNet
from skorch.callbacks import Callback

from skactive import _torch
from skactive._inference import unit_rows
from skactive._threads import library_threads
from skactive._validation import check_random_state_param, check_rows, draw_seed
from skactive.augmentation import views_for_rows
from skactive.param_validation import (
    BOOLEAN,
    RANDOM_STATE,
    Constraint,
    integer,
    options,
    real,
    validate_params,
)

#: Set on a module that has received its pretrained weights, so a warm
#: ``partial_fit`` keeps training it instead of loading them again.
_LOADED = "_skactive_pretrained_loaded"


class PretrainedWeights(Callback):
    """A skorch callback that starts every freshly initialised module from saved weights.

    At the start of training, a module that has not yet received them gets
    ``state_dict`` (``strict=False``: the classifier head, absent from it,
    keeps its fresh initialisation). A clone of the net carries the
    callback, and so its weights; a warm ``partial_fit`` trains on without
    reloading them.

    Parameters
    ----------
    state_dict : dict of str to Tensor
        Weights of every layer but the head.
    history : list of dict, default=None
        How the weights were made (see :func:`pretrain_deepcluster`).
    """

    def __init__(self, state_dict: dict, history: list | None = None):
        self.state_dict = state_dict
        self.history = history

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Load the weights into a module that has not had them."""
        _load(net, self)


def load_pretrained(net: NeuralNet) -> None:
    """Apply the net's :class:`PretrainedWeights` callbacks now (before training begins).

    For code that uses the module before skorch's ``on_train_begin``, such as
    :class:`~skactive.semi_supervised.LabelPropagationNet`'s first propagation.
    """
    for _, callback in getattr(net, "callbacks_", []):
        if isinstance(callback, PretrainedWeights):
            _load(net, callback)


def keep_trained_weights(net: NeuralNet) -> None:
    """Mark the net's module as trained, so :class:`PretrainedWeights` leaves it alone.

    For a module whose weights were restored from a file
    (:func:`skactive.persistence.load_weights`): a later warm refit must
    train on from them, not restart from the pretrained layers.
    """
    setattr(net.module_, _LOADED, True)


def _load(net: NeuralNet, callback: PretrainedWeights) -> None:
    module = net.module_
    if getattr(module, _LOADED, False):
        return
    own = module.state_dict()
    mismatched = [
        name
        for name, value in callback.state_dict.items()
        if name not in own or own[name].shape != value.shape
    ]
    if mismatched:
        raise ValueError(
            f"pretrained weights do not fit {type(module).__name__}: {mismatched[:5]} are "
            "missing or shaped differently; pretrain the same architecture"
        )
    with torch.no_grad():
        for name, value in callback.state_dict.items():
            own[name].copy_(value.to(own[name].device))
    setattr(module, _LOADED, True)


_DEEPCLUSTER_CONSTRAINTS = {
    "n_clusters": [integer(1), None],
    "n_epochs": [integer(1)],
    "kmeans_max_iter": [integer(1)],
    "max_rows": [integer(1), None],
    "reinit_head": [BOOLEAN],
    "lr": [real(0.0, low_open=True), None],
    "balanced_clusters": [BOOLEAN],
    "random_state": RANDOM_STATE,
}


def pretrain_deepcluster(
    net: NeuralNet,
    X,
    *,
    n_clusters: int | None = None,
    n_epochs: int = 10,
    kmeans_max_iter: int = 10,
    max_rows: int | None = None,
    reinit_head: bool = False,
    optimizer=None,
    lr: float | None = None,
    balanced_clusters: bool = False,
    random_state=None,
) -> NeuralNet:
    """Pretrain ``net``'s layers on unlabelled rows; return an unfitted clone that starts from them.

    DeepCluster as Siméoni et al. use it: each epoch embeds the rows with
    the current network (input of its last linear layer, unit-normalised),
    clusters them with k-means (``n_clusters``, by default 5 x the net's
    outputs, ``kmeans_max_iter`` Lloyd iterations), and trains one epoch of
    cross-entropy on the cluster ids through a temporary ``n_clusters``-way
    head (kept across epochs unless ``reinit_head``, as in the original
    DeepCluster). The net's batch size is used and the last incomplete
    batch dropped; the optimizer and learning rate are the net's unless
    given (the original DeepCluster: SGD, 0.05).

    The returned net is a clone of ``net`` with a :class:`PretrainedWeights`
    callback, so every fit, every ``clone`` of it and every refit of an
    :class:`~skactive.ActiveLearner` starts from the pretrained layers and a
    fresh head. Cost: ``n_epochs`` x (one embedding pass, one k-means, one
    training epoch) over the rows; LeNet5 on 10,000 Fashion-MNIST rows
    takes about 2 s an epoch on one CPU core. The reference runs 400 epochs
    on the whole pool with SGD.

    Parameters
    ----------
    net : skorch NeuralNet
        Unfitted template; its module must end in an ``nn.Linear``.
    X : array-like of shape (n_rows, ...)
        Unlabelled rows.
    n_clusters : int, default=None
        Pseudo-classes (None: 5 x the number of outputs).
    n_epochs : int, default=10
    kmeans_max_iter : int, default=10
    max_rows : int, default=None
        Pretrain on a random subset of this many rows (None: all).
    reinit_head : bool, default=False
    optimizer : torch.optim.Optimizer class, default=None
        None: the net's ``optimizer``.
    lr : float, default=None
        None: the net's ``lr``.
    balanced_clusters : bool, default=False
        Draw each epoch's rows equally from every cluster (the original
        DeepCluster's sampler, which guards against collapse); False draws
        rows uniformly, as Siméoni et al. do.
    random_state : int or None, default=None
        Seeds torch, the subset and k-means.

    Returns
    -------
    net : skorch NeuralNet
        An unfitted clone of ``net`` with the pretrained weights.
    """
    if not isinstance(net, NeuralNet):
        raise TypeError(f"net must be a skorch NeuralNet, got {type(net).__name__}")
    X = np.asarray(check_rows(X, name="X"))
    validate_params(
        dict(
            n_clusters=n_clusters,
            n_epochs=n_epochs,
            kmeans_max_iter=kmeans_max_iter,
            max_rows=max_rows,
            reinit_head=reinit_head,
            lr=lr,
            balanced_clusters=balanced_clusters,
            random_state=random_state,
        ),
        _DEEPCLUSTER_CONSTRAINTS,
    )
    rng = check_random_state_param(random_state)
    if max_rows is not None and max_rows < len(X):
        X = X[np.sort(rng.choice(len(X), max_rows, replace=False))]
    seed = draw_seed(rng)
    with _torch.seeded(seed), library_threads():
        worker = clone(net).initialize()
        module = worker.module_
        head_name, head = _head_of(module)
        k = n_clusters if n_clusters is not None else 5 * head.out_features
        if len(X) < k:
            raise ValueError(
                f"n_clusters ({k}) must not exceed the rows to pretrain on ({len(X)}); "
                "give more rows or fewer clusters"
            )
        make_optimizer = optimizer or worker.optimizer
        rate = worker.lr if lr is None else lr
        history = _deepcluster_epochs(
            worker,
            X,
            (head_name, head, k),
            n_epochs,
            kmeans_max_iter,
            reinit_head,
            rng,
            lambda params: make_optimizer(params, lr=rate),
            balanced_clusters,
        )
    return _with_weights(net, module, head_name, history)


def _head_of(module: torch.nn.Module) -> tuple[str, torch.nn.Linear]:
    head = _torch.find_layer(module, None)
    name = next(name for name, layer in module.named_modules() if layer is head)
    return name, head


def _replace(module: torch.nn.Module, name: str, layer: torch.nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, layer)


def _deepcluster_epochs(
    worker, X, head_spec, n_epochs, kmeans_max_iter, reinit, rng, optimizer_of, balanced
):
    head_name, head, k = head_spec
    module = worker.module_
    network = _torch.TorchNetwork(worker)
    cluster_head = torch.nn.Linear(head.in_features, k).to(network.device)
    _replace(module, head_name, cluster_head)
    optimizer = optimizer_of(module.parameters())
    batch = int(worker.batch_size) if worker.batch_size and worker.batch_size > 0 else 128
    history, previous = [], None
    for epoch in range(n_epochs):
        start = time.perf_counter()
        features = _torch.embed(network, X)
        if not np.isfinite(features).all():
            raise ValueError(
                f"DeepCluster diverged: the features are not finite after {epoch} epochs; "
                "lower lr (or use the net's optimizer)"
            )
        features = unit_rows(features)
        kmeans = KMeans(k, n_init=1, max_iter=kmeans_max_iter, random_state=draw_seed(rng))
        assignment = kmeans.fit_predict(features)
        if reinit and epoch > 0:
            cluster_head.reset_parameters()
        loss = _train_epoch(network, optimizer, X, assignment, batch, rng, balanced)
        history.append(
            {
                "epoch": epoch,
                "loss": loss,
                "nmi_to_previous": None
                if previous is None
                else float(normalized_mutual_info_score(previous, assignment)),
                "seconds": time.perf_counter() - start,
            }
        )
        previous = assignment
    _replace(module, head_name, head)
    n_used = len(np.unique(previous))
    if n_used < max(2, k // 10):
        warnings.warn(
            f"DeepCluster collapsed: the last epoch's k-means used {n_used} of {k} clusters, "
            "so the pretrained features no longer separate rows; lower lr (or use the "
            "net's optimizer) and check the history's nmi_to_previous",
            RuntimeWarning,
            stacklevel=3,
        )
    return history


def _train_epoch(network, optimizer, X, targets, batch: int, rng, balanced: bool) -> float:
    module = network.module
    module.train()
    order = _balanced_order(targets, rng) if balanced else rng.permutation(len(X))
    n_batches = max(len(X) // batch, 1)  # drop the last incomplete batch
    total = 0.0
    for b in range(n_batches):
        rows = order[b * batch : (b + 1) * batch]
        x = network.to_input(X[rows])
        target = torch.as_tensor(targets[rows], dtype=torch.long, device=x.device)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(network.logits(x), target)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    module.eval()
    return total / n_batches


def _balanced_order(targets: np.ndarray, rng) -> np.ndarray:
    """As many rows as ``targets``, equally many from each non-empty cluster, shuffled.

    The original DeepCluster's ``UnifLabelSampler``: without it, one growing
    cluster can take over and the features collapse.
    """
    clusters = [np.flatnonzero(targets == c) for c in np.unique(targets)]
    per_cluster = int(np.ceil(len(targets) / len(clusters)))
    drawn = [rng.choice(rows, per_cluster, replace=len(rows) < per_cluster) for rows in clusters]
    return rng.permutation(np.concatenate(drawn))[: len(targets)]


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy of two views of N rows.

    Every one of the 2N projections is a query whose positive is the other
    view of its row and whose negatives are the other 2N - 2 projections;
    similarities are cosines divided by ``temperature``, and the loss is
    the mean over the 2N queries of ``-log softmax(positive)``. When all
    2N projections point the same way it is exactly ``log(2N - 1)``.

    Parameters
    ----------
    z1, z2 : Tensor of shape (N, d)
        Projections of the first and second view of the same N rows.
    temperature : float, default=0.5
        Greater than 0.

    Returns
    -------
    loss : Tensor, a scalar
    """
    validate_params({"temperature": temperature}, {"temperature": [real(0.0, low_open=True)]})
    if z1.shape != z2.shape or z1.dim() != 2 or len(z1) < 2:
        raise ValueError(
            f"z1 and z2 must both have shape (N, d) with N >= 2, got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )
    n = len(z1)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    similarity = z @ z.T / temperature
    # A projection is never its own negative.
    similarity.fill_diagonal_(float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return torch.nn.functional.cross_entropy(similarity, positive)


#: Contrastive methods :func:`pretrain_contrastive` knows.
CONTRASTIVE_METHODS = ("simclr",)

_CONTRASTIVE_CONSTRAINTS = {
    "method": [options(*CONTRASTIVE_METHODS)],
    "n_epochs": [integer(1)],
    "batch_size": [integer(2)],
    "temperature": [real(0.0, low_open=True)],
    "augment": [None, Constraint(callable, "a callable (tensor, generator) -> tensor")],
    "projection_dim": [integer(1)],
    "lr": [real(0.0, low_open=True), None],
    "max_rows": [integer(1), None],
    "random_state": RANDOM_STATE,
}


def pretrain_contrastive(
    net: NeuralNet,
    X,
    *,
    method: str = "simclr",
    n_epochs: int = 20,
    batch_size: int = 256,
    temperature: float = 0.5,
    augment=None,
    projection_dim: int = 64,
    optimizer=None,
    lr: float | None = None,
    max_rows: int | None = None,
    random_state=None,
) -> NeuralNet:
    """Pretrain ``net``'s layers by contrasting views of unlabelled rows; return an unfitted clone.

    SimCLR (Chen et al., ICML 2020): every batch of ``batch_size`` rows gets
    two random views (``augment``), the trunk (the net without its last
    ``nn.Linear``) and a projection head (``Linear - ReLU - Linear`` to
    ``projection_dim``) map both, and :func:`nt_xent_loss` pulls the two
    views of a row together and pushes the other rows away. The head is
    thrown away afterwards, as in the paper; the representation kept is the
    trunk's output, the input of the net's last linear layer.

    The returned net is a clone of ``net`` with a :class:`PretrainedWeights`
    callback, as from :func:`pretrain_deepcluster`: every fit, ``clone`` and
    refit of an :class:`~skactive.ActiveLearner` starts from the pretrained
    trunk and a fresh classifier head, and :class:`~skactive.embeddings.Embedding`
    turns it into a feature extractor for TypiClust, ProbCover or core-set.
    Cost: ``n_epochs`` x (rows / ``batch_size``) steps of two forward and
    backward passes; an epoch of LeNet5 over 20,000 Fashion-MNIST rows took
    4.4 s on two idle CPU cores, 1.1x a plain supervised epoch over the same
    rows (12.7 s and 1.5x on one thread of a loaded machine;
    ``benchmarks/bench_pretraining.py``).

    Parameters
    ----------
    net : skorch NeuralNet
        Unfitted template; its module must end in an ``nn.Linear``.
    X : array-like of shape (n_rows, channels, height, width)
        Unlabelled rows, at least ``batch_size`` of them (the last
        incomplete batch of an epoch is dropped).
    method : {"simclr"}, default="simclr"
    n_epochs : int, default=20
    batch_size : int, default=256
        Rows per batch; each contributes 2 x ``batch_size`` - 2 negatives.
    temperature : float, default=0.5
    augment : callable, default=None
        ``augment(x, generator) -> view`` on a tensor batch on the net's
        device; None: :func:`~skactive.augmentation.default_augmentation`
        for the rows' channels, with the rows' value range.
    projection_dim : int, default=64
    optimizer : torch.optim.Optimizer class, default=None
        None: the net's ``optimizer``.
    lr : float, default=None
        None: the net's ``lr``.
    max_rows : int, default=None
        Pretrain on a random subset of this many rows (None: all).
    random_state : int or None, default=None
        Seeds torch (the views, the projection head) and the batches.

    Returns
    -------
    net : skorch NeuralNet
        An unfitted clone of ``net`` with the pretrained weights; its
        callback's ``history`` holds each epoch's loss and seconds.
    """
    if not isinstance(net, NeuralNet):
        raise TypeError(f"net must be a skorch NeuralNet, got {type(net).__name__}")
    X = np.asarray(check_rows(X, name="X"))
    params = dict(
        method=method,
        n_epochs=n_epochs,
        batch_size=batch_size,
        temperature=temperature,
        augment=augment,
        projection_dim=projection_dim,
        lr=lr,
        max_rows=max_rows,
        random_state=random_state,
    )
    validate_params(params, _CONTRASTIVE_CONSTRAINTS)
    rng = check_random_state_param(random_state)
    if max_rows is not None and max_rows < len(X):
        X = X[np.sort(rng.choice(len(X), max_rows, replace=False))]
    if len(X) < batch_size:
        raise ValueError(
            f"batch_size ({batch_size}) must not exceed the rows to pretrain on ({len(X)}); "
            "give more rows or a smaller batch_size"
        )
    if augment is None:
        augment = views_for_rows(X)
    seed = draw_seed(rng)
    with _torch.seeded(seed), library_threads():
        worker = clone(net).initialize()
        head_name, head = _head_of(worker.module_)
        make_optimizer = optimizer or worker.optimizer
        rate = worker.lr if lr is None else lr
        history = _simclr_epochs(
            _torch.TorchNetwork(worker),
            X,
            (head_name, head),
            dict(params, augment=augment, seed=seed),
            rng,
            lambda parameters: make_optimizer(parameters, lr=rate),
        )
    return _with_weights(net, worker.module_, head_name, history)


def _with_weights(net, module, head_name, history) -> NeuralNet:
    """A clone of ``net`` that starts from ``module``'s weights, all but the head."""
    state = {
        name: value.detach().clone().cpu()
        for name, value in module.state_dict().items()
        if not name.startswith(head_name + ".")
    }
    pretrained = clone(net)
    callbacks = list(pretrained.callbacks or [])
    callbacks.append(("pretrained_weights", PretrainedWeights(state, history)))
    return pretrained.set_params(callbacks=callbacks)


def _simclr_epochs(network, X, head_spec, params, rng, optimizer_of) -> list[dict]:
    head_name, head = head_spec
    module = network.module
    width = head.in_features
    projection = torch.nn.Sequential(
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, params["projection_dim"]),
    ).to(network.device, network.dtype)
    # The trunk is the net up to its last linear layer: the head steps aside.
    _replace(module, head_name, torch.nn.Identity())
    optimizer = optimizer_of([*module.parameters(), *projection.parameters()])
    generator = torch.Generator(device=network.device).manual_seed(params["seed"])
    batch, history = params["batch_size"], []
    try:
        module.train()
        for epoch in range(params["n_epochs"]):
            start = time.perf_counter()
            order = rng.permutation(len(X))
            losses = []
            for b in range(len(X) // batch):
                x = network.to_input(X[np.sort(order[b * batch : (b + 1) * batch])])
                augment = params["augment"]
                views = torch.cat([augment(x, generator), augment(x, generator)])
                z = projection(module(views).flatten(1))
                loss = nt_xent_loss(z[: len(x)], z[len(x) :], params["temperature"])
                if not torch.isfinite(loss):
                    raise ValueError(
                        f"SimCLR diverged: the loss is not finite in epoch {epoch}; lower lr"
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            seconds = time.perf_counter() - start
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), "seconds": seconds})
    finally:
        module.eval()
        _replace(module, head_name, head)
    return history
