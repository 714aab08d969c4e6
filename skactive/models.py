"""The DFAL paper's two CNNs as torch modules returning logits.

Both are sized by ``in_channels``, ``image_size`` and ``n_classes`` so the
same class runs on 8x8 digits and 28x28 Fashion-MNIST. Use them with
``criterion=torch.nn.CrossEntropyLoss`` (they return logits, not
probabilities). They are module-level classes, so skorch nets holding them
pickle and clone.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skactive.param_validation import options, validate_params


def _flat_size(features: nn.Module, in_channels: int, image_size: int) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, image_size, image_size)).numel()


class LeNet5(nn.Module):
    """LeNet-5 style CNN (LeCun et al., 1998), as used in the DFAL paper.

    conv(6, 5x5) - ReLU - maxpool - conv(16, 5x5) - ReLU - maxpool -
    fc(120) - ReLU - fc(84) - ReLU - dropout - fc(n_classes). Convolutions
    are zero-padded so 8x8 inputs keep a spatial extent after both pools.

    Parameters
    ----------
    in_channels : int, default=1
    image_size : int, default=28
        Height and width of the (square) input.
    n_classes : int, default=10
    dropout : float, default=0.25
        Dropout before the last layer (MC-dropout strategies need one).

    Attributes
    ----------
    loss_layers : tuple of str
        The levels a :class:`~skactive.nets.LossPredictionNet` reads by
        default: both pooled feature maps and both hidden activations.
    """

    loss_layers = ("features.2", "features.5", "classifier.1", "classifier.3")

    def __init__(
        self, in_channels: int = 1, image_size: int = 28, n_classes: int = 10, dropout: float = 0.25
    ):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(_flat_size(self.features, in_channels, image_size), 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(84, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, n_classes)."""
        return self.classifier(self.features(x))


class VGG8(nn.Module):
    """An 8-layer VGG-style CNN (Simonyan & Zisserman, 2015), as in the DFAL paper.

    Three blocks of two 3x3 convolutions (32, 64, 128 channels) with batch
    norm and ReLU, each followed by 2x2 max pooling while the feature map is
    at least 2 pixels wide, then fc(256) - ReLU - dropout - fc(n_classes):
    six convolutional and two dense layers.

    Parameters
    ----------
    in_channels : int, default=1
    image_size : int, default=28
    n_classes : int, default=10
    dropout : float, default=0.5
    width : int, default=32
        Channels of the first block (doubled in each following block).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        n_classes: int = 10,
        dropout: float = 0.5,
        width: int = 32,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for block in range(3):
            out = width * 2**block
            for _ in range(2):
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
                channels = out
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(_flat_size(self.features, in_channels, image_size), 256),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(256, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, n_classes)."""
        return self.classifier(self.features(x))


ARCHITECTURES = {"lenet5": LeNet5, "vgg8": VGG8}


def make_net(
    architecture: str = "lenet5",
    *,
    in_channels: int = 1,
    image_size: int = 28,
    n_classes: int = 10,
    max_epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 32,
    device: str = "cpu",
    net_class=None,
    **kwargs,
):
    """A skorch ``NeuralNetClassifier`` set up as in the DFAL paper.

    Adam, learning rate 1e-3, batch 32, cross-entropy on logits, and no
    internal validation split (labelled sets are small).

    Parameters
    ----------
    architecture : {"lenet5", "vgg8"}
    in_channels, image_size, n_classes : int
        Passed to the module.
    max_epochs, lr, batch_size : training settings.
    device : str
        Torch device, e.g. ``"cuda"``.
    net_class : type, default=None
        A ``NeuralNetClassifier`` subclass to build instead, e.g.
        :class:`skactive.nets.AdversarialTrainingNet`.
    **kwargs
        Further parameters of the net class.

    Returns
    -------
    net : skorch.NeuralNetClassifier
        Unfitted.
    """
    validate_params(
        {"architecture": architecture}, {"architecture": [options(*sorted(ARCHITECTURES))]}
    )
    params = dict(
        module__in_channels=in_channels,
        module__image_size=image_size,
        module__n_classes=n_classes,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        device=device,
        verbose=0,
    )
    params.update(kwargs)
    return (net_class or NeuralNetClassifier)(ARCHITECTURES[architecture], **params)


def make_net_for(architecture: str, X, y, **params):
    """:func:`make_net` sized for images ``X`` (n, channels, size, size) and labels ``y``.

    The one network factory of the command line and the experiment runner;
    ``params`` go to :func:`make_net` (``max_epochs``, ``device``,
    ``net_class``, ...).
    """
    X = np.asarray(X)
    return make_net(
        architecture,
        in_channels=X.shape[1],
        image_size=X.shape[-1],
        n_classes=len(np.unique(np.asarray(y))),
        **params,
    )
