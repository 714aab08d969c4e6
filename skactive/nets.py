"""skorch nets that change how the task model trains."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from skactive import _torch
from skactive.attacks import _check_pgd_params, pgd_batch


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
    per batch; ``n_steps=10, step_size=0.03`` (the ``2.5 * eps / n_steps``
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
        _check_pgd_params(self.eps, self.step_size, self.n_steps, self.norm, self.clip)
        fraction = self.adversarial_fraction
        valid = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
        if not valid or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"adversarial_fraction must be a number in [0, 1], got {fraction!r}")
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
