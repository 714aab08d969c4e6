"""skorch nets that change how the task model trains."""

from __future__ import annotations

import contextlib
import numbers
from typing import ClassVar

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor

from skactive import _torch
from skactive._validation import check_random_state_param, draw_seed
from skactive.attacks import PGD_PARAMETER_CONSTRAINTS, pgd_batch
from skactive.generative import (
    ConditionalGenerator,
    ConvDiscriminator,
    ConvEncoder,
    check_image_shape,
    kl_divergence,
)
from skactive.param_validation import (
    BOOLEAN,
    SKLEARN_PARAMETER_CONSTRAINTS,
    check_estimator_params,
    integer,
    real,
    satisfies,
    validate_params,
)


class AdversarialTrainingNet(NeuralNetClassifier):
    """A skorch classifier trained on PGD adversarial examples (Madry et al.).

    Every training batch is attacked with projected gradient descent at its
    true labels (the module in eval mode while attacking, so batch-norm
    statistics are neither used from nor moved by the attack), and the
    first ``adversarial_fraction`` of its rows are replaced by their
    adversarial versions before the usual loss and step. With the default
    ``adversarial_fraction=1.0`` the loss is on adversarial examples only,
    as in the robust active learning reference (Guo et al., 2021), whose
    Fashion-MNIST setting the defaults follow: ``eps=0.3``,
    ``step_size=0.01``, ``n_steps=40``, no random start, inputs in [0, 1].
    Training then costs about ``n_steps + 1`` forward and backward passes
    per batch; ``n_steps=10, step_size=0.075`` (the ``2.5 * eps / n_steps``
    rule) is a CPU-friendly setting that is not the reference's.
    Prediction is unchanged (clean rows).

    Reference: A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu,
    "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018.

    Parameters
    ----------
    module : torch.nn.Module class
        Returns logits (the default criterion is ``CrossEntropyLoss``).
    eps : float, default=0.3
    step_size : float, default=0.01
    n_steps : int, default=40
    norm : {inf, 2}, default=inf
    adversarial_fraction : float, default=1.0
        Share of each batch replaced by adversarial rows (0: plain training).
    clip : (float, float) or None, default=(0.0, 1.0)
    random_start : bool, default=False
    **kwargs
        Any ``NeuralNetClassifier`` parameter.
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        **PGD_PARAMETER_CONSTRAINTS,
        "adversarial_fraction": [real(0.0, 1.0)],
        "random_start": [BOOLEAN],
    }

    def __init__(
        self,
        module,
        *args,
        eps: float = 0.3,
        step_size: float = 0.01,
        n_steps: int = 40,
        norm: float = np.inf,
        adversarial_fraction: float = 1.0,
        clip=(0.0, 1.0),
        random_start: bool = False,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.eps = eps
        self.step_size = step_size
        self.n_steps = n_steps
        self.norm = norm
        self.adversarial_fraction = adversarial_fraction
        self.clip = clip
        self.random_start = random_start

    def initialize(self):
        """Check the attack's parameters, then initialise as skorch does."""
        check_estimator_params(self)
        return super().initialize()

    def train_step_single(self, batch, **fit_params):
        """Replace part of the batch by its PGD examples, then step as skorch does."""
        Xi, yi = unpack_data(batch)
        x = to_tensor(Xi, device=self.device)
        target = to_tensor(yi, device=self.device).long()
        n_attacked = round(float(self.adversarial_fraction) * len(x))
        if n_attacked and isinstance(x, torch.Tensor):
            network = _torch.TorchNetwork(self)
            start = None
            if self.random_start:
                start = torch.empty_like(x[:n_attacked]).uniform_(-self.eps, self.eps)
            with _torch.evaluation_mode(self.module_):
                adversarial = pgd_batch(
                    network.logits,
                    x[:n_attacked],
                    target[:n_attacked],
                    self.eps,
                    self.step_size,
                    self.n_steps,
                    self.norm,
                    self.clip,
                    start,
                )
            x = torch.cat([adversarial, x[n_attacked:]])
        self._set_training(True)
        y_pred = self.infer(x, **fit_params)
        loss = self.get_loss(y_pred, yi, X=x, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


def per_row_loss(net, y_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The net's classification loss of every row (no reduction).

    Supports ``CrossEntropyLoss`` (logits) and skorch's default ``NLLLoss``
    (probabilities, logged as skorch does).
    """
    criterion = net.criterion_
    if isinstance(criterion, torch.nn.CrossEntropyLoss):
        return torch.nn.functional.cross_entropy(y_pred, target, reduction="none")
    if isinstance(criterion, torch.nn.NLLLoss):
        eps = torch.finfo(y_pred.dtype).eps
        return torch.nn.functional.nll_loss(torch.log(y_pred + eps), target, reduction="none")
    raise TypeError(
        f"criterion: {type(net).__name__} needs CrossEntropyLoss or NLLLoss, got "
        f"{type(criterion).__name__}"
    )


def margin_ranking_loss(
    predicted: torch.Tensor, target: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Learning Loss's pairwise ranking loss (Yoo & Kweon, 2019).

    Row ``i`` of the first half is paired with row ``2B - 1 - i``; a pair
    costs ``max(0, margin - sign * (p_i - p_j))`` where ``sign`` is +1 when
    the target loss of ``i`` is larger and -1 otherwise (ties included, as in
    the reference). Averaged over the ``B`` pairs.

    Raises
    ------
    ValueError
        For an odd number of rows (``LossPredictionNet`` leaves the last
        row of an odd batch out of it).
    """
    predicted, target = predicted.reshape(-1), target.reshape(-1).detach()
    if len(predicted) % 2:
        raise ValueError(
            f"margin_ranking_loss pairs rows and needs an even batch, got {len(predicted)} rows"
        )
    half = len(predicted) // 2
    predicted_diff = (predicted - predicted.flip(0))[:half]
    target_diff = (target - target.flip(0))[:half]
    sign = 2 * torch.sign(torch.clamp(target_diff, min=0)) - 1
    return torch.clamp(margin - sign * predicted_diff, min=0).sum() / half


def _is_name_list(value) -> bool:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return False
    return len(value) > 0 and all(isinstance(name, str) for name in value)


class _LossHead(torch.nn.Module):
    """Per level: global average pooling (maps) -> Linear -> ReLU; concat -> Linear -> 1."""

    def __init__(self, in_dims: list[int], hidden: int):
        super().__init__()
        self.levels = torch.nn.ModuleList(torch.nn.Linear(d, hidden) for d in in_dims)
        self.out = torch.nn.Linear(hidden * len(in_dims), 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        pooled = [_pooled(f) for f in features]
        hidden = [torch.relu(level(f)) for level, f in zip(self.levels, pooled, strict=True)]
        return self.out(torch.cat(hidden, dim=1)).squeeze(1)


def _pooled(feature: torch.Tensor) -> torch.Tensor:
    return feature.flatten(2).mean(2) if feature.dim() > 2 else feature


class LossPredictionNet(NeuralNetClassifier):
    """A skorch classifier trained jointly with a loss-prediction head (Learning Loss).

    Forward hooks read the outputs of the ``loss_layers``; each goes through
    global average pooling (feature maps) and ``Linear -> ReLU`` of
    ``loss_dim`` units, and the concatenation through ``Linear -> 1``
    predicts the row's loss. The total loss is the mean cross-entropy plus
    ``loss_weight`` x :func:`margin_ranking_loss` of the predicted against
    the actual per-row losses. After ``detach_after`` of ``max_epochs`` the
    head's gradient no longer reaches the network (the head keeps
    learning). The head is the skorch module ``loss_module_``: registered,
    optimised, moved to the device, saved and pickled with the net.
    The ranking loss pairs the rows of each batch; in a batch of odd size
    (the last one) the last row takes part in the cross-entropy only.
    Query with :class:`~skactive.strategies.LearningLoss`.

    Reference: D. Yoo and I. S. Kweon, "Learning Loss for Active Learning",
    CVPR 2019 (defaults: ``loss_dim=128``, ``loss_weight=1``, ``margin=1``,
    stop after 120 of 200 epochs).

    Parameters
    ----------
    module : torch.nn.Module class
        Returns logits (the default criterion is ``CrossEntropyLoss``).
    loss_layers : list of str, default=None
        Names of submodules (``module.named_modules()``) whose outputs feed
        the head. None: the module's own ``loss_layers`` attribute if it has
        one (:class:`~skactive.models.LeNet5`: its two pooled feature maps
        and two hidden activations), else the input of the last linear
        layer.
    loss_dim : int, default=128
    loss_weight : float, default=1.0
    margin : float, default=1.0
    detach_after : float, default=0.6
        Fraction of ``max_epochs`` after which the head's gradient into the
        network is stopped (1.0: never).
    **kwargs
        Any ``NeuralNetClassifier`` parameter.
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "loss_dim": [integer(1)],
        "loss_weight": [real(0.0)],
        "margin": [real(0.0)],
        "detach_after": [real(0.0, 1.0)],
        "loss_layers": [None, satisfies(_is_name_list, "a non-empty list of submodule names")],
    }

    def __init__(
        self,
        module,
        *args,
        loss_layers: list[str] | None = None,
        loss_dim: int = 128,
        loss_weight: float = 1.0,
        margin: float = 1.0,
        detach_after: float = 0.6,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.loss_layers = loss_layers
        self.loss_dim = loss_dim
        self.loss_weight = loss_weight
        self.margin = margin
        self.detach_after = detach_after

    def initialize_module(self):
        """Build the network, then the loss head sized by one dry forward pass."""
        super().initialize_module()
        self._check_loss_params()
        sample = getattr(self, "_sample_input", None)
        if sample is None:
            raise ValueError(
                "LossPredictionNet sizes its loss head from the data: call fit (or "
                "partial_fit) instead of initialize"
            )
        with torch.no_grad(), _torch.evaluation_mode(self.module_):
            _, features = self._forward_with_levels(
                lambda: self.module_(to_tensor(sample, device=self.device))
            )
        dims = [_pooled(feature).shape[1] for feature in features]
        self.loss_module_ = _LossHead(dims, int(self.loss_dim)).to(self.device)
        return self

    def _check_loss_params(self) -> None:
        check_estimator_params(self)

    def _loss_levels(self) -> list[tuple[torch.nn.Module, str]]:
        """(submodule, "output" or "input") for each level the head reads."""
        names = self.loss_layers
        if names is None:
            names = getattr(self.module_, "loss_layers", None)
        if names is None:
            return [(_torch.find_layer(self.module_, None), "input")]
        named = dict(self.module_.named_modules())
        unknown = [name for name in names if name not in named or not name]
        if unknown:
            raise ValueError(
                f"loss_layers: {unknown} name no submodule of {type(self.module_).__name__}; "
                f"known names: {sorted(n for n in named if n)}"
            )
        return [(named[name], "output") for name in names]

    def _forward_with_levels(self, forward):
        """``forward()``'s result and the features of every level, captured in this thread."""
        levels = self._loss_levels()
        with contextlib.ExitStack() as stack:
            captures = [stack.enter_context(_torch.layer_io(layer)) for layer, _ in levels]
            result = forward()
        return result, [
            capture[which] for capture, (_, which) in zip(captures, levels, strict=True)
        ]

    def fit(self, X, y=None, **fit_params):
        """Remember a row to size the loss head from, then fit as skorch does."""
        self._remember_sample(X)
        return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Remember a row to size the loss head from, then train on as skorch does."""
        self._remember_sample(X)
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def initialize_for(self, X) -> LossPredictionNet:
        """Initialise as ``fit`` does first, sizing the loss head from the rows ``X``.

        For restoring saved weights (:func:`skactive.persistence.load_weights`):
        ``initialize`` alone cannot size the head without data.
        """
        self._remember_sample(X)
        return self.initialize()

    def _remember_sample(self, X) -> None:
        if len(X) < 2:
            raise ValueError(f"LossPredictionNet pairs rows and needs at least 2, got {len(X)}")
        self._sample_input = np.asarray(X[:1])

    def train_step_single(self, batch, **fit_params):
        """Cross-entropy plus the weighted ranking loss of the predicted losses."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        target = to_tensor(yi, device=self.device).long()
        y_pred, features = self._forward_with_levels(lambda: self.infer(Xi, **fit_params))
        epoch = len(self.history) - 1
        if epoch >= round(float(self.detach_after) * self.max_epochs):
            features = [f.detach() for f in features]
        losses = per_row_loss(self, y_pred, target)
        predicted = self.loss_module_(features)
        paired = len(losses) - len(losses) % 2  # an odd batch's last row pairs with no one
        loss = losses.mean()
        if paired:
            ranking = margin_ranking_loss(predicted[:paired], losses[:paired], self.margin)
            loss = loss + self.loss_weight * ranking
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def predict_loss(self, X, *, batch_size: int | None = None) -> np.ndarray:
        """The head's predicted loss of every row (eval mode), in row order."""
        network = _torch.TorchNetwork(self)

        def run(nw, x):
            _, features = self._forward_with_levels(lambda: nw.module(x))
            return self.loss_module_(features)

        size = network.batch_size_for(batch_size)
        with _torch.evaluation_mode(self.loss_module_):
            return _torch.predict_batches(network, X, run, size)


class GenerativeAugmentationNet(NeuralNetClassifier):
    """A skorch classifier trained beside a VAE-ACGAN that generates labelled rows for it.

    BGADL's training side (Tran, Do, Reid & Carneiro, "Bayesian Generative
    Active Deep Learning", ICML 2019). Beside the task module ``C`` (the
    one ``predict`` uses) the net trains an encoder ``E``, a class-conditional
    generator ``G(z, y)`` and a discriminator ``D`` whose auxiliary
    classifier is ``C`` itself. Every minibatch of labelled rows ``(x, y)``
    takes four steps, in the reference's order:

    1. **encoder**: ``MSE(G(E(x), y), x)`` plus the KL term (mean over rows);
    2. **generator**: ``BCE(D(G(z, y)), real) + CE(C(G(z, y)), y) + 0.75 *
       MSE(G(E(x), y), x)``, ``C`` in eval mode (no dropout) and not updated;
    3. **discriminator**: real rows against both kinds of fake;
    4. **classifier**: ``CE(C(x), y) + generated_weight * CE(C(G(z, y)), y)
       + reconstruction_weight * CE(C(G(E(x), y)), y)``, the fakes detached.

    So the classifier learns from the labelled rows, from a reconstruction
    of every labelled row with its label (an actively acquired ``x*`` enters
    as ``G(E(x*), y*)`` with the oracle's label) and from class-conditional
    samples. ``E``, ``G`` and ``D`` are registered skorch modules
    (``encoder_``, ``generator_``, ``discriminator_``) with their own Adam
    optimizers: moved to the device, saved and pickled with the net, and
    initialised afresh by every ``fit`` (as the reference re-initialises
    everything each acquisition round). Their weights and the latent
    noise come from ``random_state``, never from torch's global generator,
    so with both weights at 0 the classifier trains exactly as the plain
    ``NeuralNetClassifier`` does.

    Unlike the reference, the scored classifier keeps its dropout (so BALD
    is not 0 everywhere), the encoder keeps a ``latent_dim`` bottleneck (not
    one scalar), the discriminator returns logits, and E, G and D use Adam
    (``generative_lr``, betas 0.5 and 0.999, DCGAN's) instead of Adadelta.
    Query with :class:`~skactive.strategies.BGADL` (BALD on this net).

    Parameters
    ----------
    module : torch.nn.Module class
        The classifier; returns logits (default criterion ``CrossEntropyLoss``).
    latent_dim : int, default=16
    width : int, default=16
        Channels of the first convolution of E, G and D (see
        :class:`~skactive.generative.ConvVAE`).
    generated_weight : float, default=1.0
        Weight of the classifier's loss on ``G(z, y)``.
    reconstruction_weight : float, default=1.0
        Weight of the classifier's loss on ``G(E(x), y)``.
    generative_lr : float, default=1e-3
    random_state : int or None, default=None
        Seeds E, G, D and their noise.
    **kwargs
        Any ``NeuralNetClassifier`` parameter.

    Attributes
    ----------
    encoder_, generator_, discriminator_ : torch.nn.Module
    generative_losses_ : list of dict
        Per epoch, the mean encoder, generator and discriminator losses.
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "latent_dim": [integer(1)],
        "width": [integer(1)],
        "generated_weight": [real(0.0)],
        "reconstruction_weight": [real(0.0)],
        "generative_lr": [real(0.0, low_open=True)],
        "random_state": [None, integer(0)],
    }

    #: The reference's weight of the reconstruction term in the generator step.
    GENERATOR_RECONSTRUCTION = 0.75

    def __init__(
        self,
        module,
        *args,
        latent_dim: int = 16,
        width: int = 16,
        generated_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        generative_lr: float = 1e-3,
        random_state: int | None = None,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.latent_dim = latent_dim
        self.width = width
        self.generated_weight = generated_weight
        self.reconstruction_weight = reconstruction_weight
        self.generative_lr = generative_lr
        self.random_state = random_state

    def fit(self, X, y=None, **fit_params):
        """Remember the rows' shape and value range to size the generator, then fit."""
        self._remember_rows(X)
        return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Remember the rows' shape and value range, then train on as skorch does."""
        self._remember_rows(X)
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def initialize_for(self, X) -> GenerativeAugmentationNet:
        """Initialise as ``fit`` does first, sizing E, G and D from the rows ``X``."""
        self._remember_rows(X)
        return self.initialize()

    def _remember_rows(self, X) -> None:
        X = np.asarray(X)
        self._row_shape = check_image_shape(X.shape[1:], name="X")
        self._value_range = (float(X.min()), float(X.max()))

    def initialize_module(self):
        """Build the classifier, then E, G and D sized by the rows and the classifier's outputs."""
        super().initialize_module()
        check_estimator_params(self)
        shape = getattr(self, "_row_shape", None)
        if shape is None:
            raise ValueError(
                "GenerativeAugmentationNet sizes its generator from the data: call fit (or "
                "partial_fit) instead of initialize"
            )
        with torch.no_grad(), _torch.evaluation_mode(self.module_):
            sample = torch.zeros((1, *shape), device=self.device)
            n_classes = int(_torch.TorchNetwork(self).as_logits(self.module_(sample)).shape[1])
        seed = self._seed()
        # Forked: building E, G and D must not move torch's global generator,
        # which the classifier's dropout and the batch order draw from.
        with _torch.seeded(seed):
            self.encoder_ = ConvEncoder(shape, self.latent_dim, self.width).to(self.device)
            self.generator_ = ConditionalGenerator(
                shape, n_classes, self.latent_dim, self.width, self._value_range
            ).to(self.device)
            self.discriminator_ = ConvDiscriminator(shape, self.width).to(self.device)
        self.noise_seed_ = seed + 1
        self._noise = None
        self.generative_losses_ = []
        return self

    def _noise_generator(self) -> torch.Generator:
        """The latent noise's generator; after unpickling, reseeded by the epochs trained."""
        if getattr(self, "_noise", None) is None:
            seed = int(self.noise_seed_) + len(self.history)
            self._noise = torch.Generator(device=self.device).manual_seed(seed)
        return self._noise

    def __getstate__(self):
        # A torch.Generator pickles its state under a memory address, so two
        # pickles of an unchanged net would differ; it is rebuilt on demand.
        state = super().__getstate__()
        state.pop("_noise", None)
        return state

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        # None (numpy's global generator, as scikit-learn reads it) or a RandomState.
        return draw_seed(check_random_state_param(self.random_state))

    def get_all_learnable_params(self):
        """The classifier's parameters only: E, G and D have optimizers of their own."""
        yield from self.module_.named_parameters()
        yield from self.criterion_.named_parameters()

    def initialize_optimizer(self, *args, **kwargs):
        """The net's optimizer for the classifier, Adam for each of E, G and D."""
        super().initialize_optimizer(*args, **kwargs)
        adam = dict(lr=self.generative_lr, betas=(0.5, 0.999))
        self.encoder_optimizer_ = torch.optim.Adam(self.encoder_.parameters(), **adam)
        self.generator_optimizer_ = torch.optim.Adam(self.generator_.parameters(), **adam)
        self.discriminator_optimizer_ = torch.optim.Adam(self.discriminator_.parameters(), **adam)
        return self

    def train_step(self, batch, **fit_params):
        """The encoder, generator and discriminator steps, then the classifier's."""
        Xi, yi = unpack_data(batch)
        x = to_tensor(Xi, device=self.device).float()
        y = to_tensor(yi, device=self.device).long()
        fakes = self._generative_steps(x, y)
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, fakes=fakes, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()
        return step

    def train_step_single(self, batch, fakes=None, **fit_params):
        """Cross-entropy on the real rows plus the weighted terms on the generated ones."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        target = to_tensor(yi, device=self.device)
        # A zero weight skips its forward pass: the classifier's dropout then
        # draws exactly what a plain net's would.
        for weight, name in (
            (self.generated_weight, "sampled"),
            (self.reconstruction_weight, "recon"),
        ):
            if weight and fakes is not None:
                loss = loss + weight * self.get_loss(self.module_(fakes[name]), target)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def _generative_steps(self, x, y) -> dict:
        E, G, D = self.encoder_, self.generator_, self.discriminator_
        for part in (E, G, D):
            part.train()
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        mse = torch.nn.functional.mse_loss
        # 1. encoder: reconstruction and KL.
        mu, logvar = E(x)
        recon = G(self._sample_latent(mu, logvar), y)
        encoder_loss = mse(recon, x) + kl_divergence(mu, logvar, reduction="mean")
        self.encoder_optimizer_.zero_grad()
        encoder_loss.backward()
        self.encoder_optimizer_.step()
        # 2. generator: fool D, be classified as y by C, reconstruct x.
        z = torch.randn(len(x), self.latent_dim, device=x.device, generator=self._noise_generator())
        sampled = G(z, y)
        with torch.no_grad():
            mu, logvar = E(x)
            code = self._sample_latent(mu, logvar)
        recon = G(code, y)
        with _torch.evaluation_mode(self.module_):
            auxiliary = torch.nn.functional.cross_entropy(
                _torch.TorchNetwork(self).as_logits(self.module_(sampled)), y
            )
        real = torch.ones(len(x), device=x.device)
        generator_loss = (
            bce(D(sampled), real) + auxiliary + self.GENERATOR_RECONSTRUCTION * mse(recon, x)
        )
        self.generator_optimizer_.zero_grad()
        generator_loss.backward()
        self.generator_optimizer_.step()
        # 3. discriminator: real rows against both kinds of fake.
        sampled, recon = sampled.detach(), recon.detach()
        fake = torch.zeros(len(x), device=x.device)
        discriminator_loss = bce(D(x), real) + bce(D(sampled), fake) + bce(D(recon), fake)
        self.discriminator_optimizer_.zero_grad()
        discriminator_loss.backward()
        self.discriminator_optimizer_.step()
        self._record_generative_losses(encoder_loss, generator_loss, discriminator_loss)
        return {"sampled": sampled, "recon": recon}

    def _sample_latent(self, mu, logvar) -> torch.Tensor:
        noise = torch.randn(
            mu.shape, device=mu.device, dtype=mu.dtype, generator=self._noise_generator()
        )
        return mu + torch.exp(0.5 * logvar) * noise

    def _record_generative_losses(self, *losses) -> None:
        epoch = len(self.history)
        if not self.generative_losses_ or self.generative_losses_[-1]["epoch"] != epoch:
            self.generative_losses_.append(
                {
                    "epoch": epoch,
                    "encoder": 0.0,
                    "generator": 0.0,
                    "discriminator": 0.0,
                    "batches": 0,
                }
            )
        record = self.generative_losses_[-1]
        for name, value in zip(("encoder", "generator", "discriminator"), losses, strict=True):
            record[name] += (float(value.detach()) - record[name]) / (record["batches"] + 1)
        record["batches"] += 1

    def sample(self, n_per_class: int, *, random_state=None):
        """Class-conditional rows ``G(z, y)``: ``n_per_class`` of every class, in class order.

        Returns
        -------
        X : ndarray of shape (n_per_class * n_classes, *row_shape)
        y : ndarray of shape (n_per_class * n_classes,)
            Class indices (positions in ``classes_``).
        """
        validate_params({"n_per_class": n_per_class}, {"n_per_class": [integer(1)]})
        self.check_is_fitted()
        n_classes = self.generator_.n_classes
        y = torch.arange(n_classes, device=self.device).repeat_interleave(n_per_class)
        seed = draw_seed(check_random_state_param(random_state))
        noise = torch.Generator(device=self.device).manual_seed(int(seed))
        z = torch.randn(len(y), self.latent_dim, device=self.device, generator=noise)
        with torch.no_grad(), _torch.evaluation_mode(self.generator_):
            X = self.generator_(z, y)
        return X.cpu().numpy(), y.cpu().numpy()

    def reconstruct(self, X, y) -> np.ndarray:
        """``G(mu(E(x)), y)`` of every row, eval mode: what the classifier learns ``x`` as."""
        self.check_is_fitted()
        x = _torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)
        target = torch.as_tensor(np.asarray(y), device=self.device).long()
        with (
            torch.no_grad(),
            _torch.evaluation_mode(self.encoder_),
            _torch.evaluation_mode(self.generator_),
        ):
            mu, _ = self.encoder_(x)
            return self.generator_(mu, target).cpu().numpy()
