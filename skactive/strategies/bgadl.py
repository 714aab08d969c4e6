"""BGADL: BALD acquisition on a net trained beside a VAE-ACGAN.

Reference: T. Tran, T.-T. Do, I. Reid and G. Carneiro, "Bayesian Generative
Active Deep Learning", ICML 2019 (code: toantm/BGADL).
"""

from __future__ import annotations

from dataclasses import replace

from skactive import _torch
from skactive.base import StrategyTags
from skactive.nets import GenerativeAugmentationNet
from skactive.strategies.bald import BALD


class BGADL(BALD):
    """BALD on a :class:`~skactive.nets.GenerativeAugmentationNet`: the paper's method.

    The acquisition is BALD by MC dropout, exactly as :class:`BALD`; what
    makes it BGADL is the model it queries, a classifier trained beside a
    VAE-ACGAN on the labelled rows, their reconstructions ``G(E(x), y)``
    and class-conditional samples ``G(z, y)``. An acquired row ``x*``
    therefore enters training both as itself and, every minibatch, as a
    generated row with the oracle's label. The strategy refuses any other
    estimator, so the name never silently means plain BALD:

    .. code-block:: python

        net = make_net("lenet5", net_class=GenerativeAugmentationNet, random_state=0)
        learner = ActiveLearner(net, BGADL(), random_state=0)

    :class:`BALDWithVAETwins` is the lighter relative (a VAE trained per
    query, one stored reconstruction per acquired row); random rows on a
    ``GenerativeAugmentationNet`` are the paper's BDA control.

    Parameters
    ----------
    n_samples, candidates, batch_size, n_jobs, random_state
        As for :class:`BALD` (the reference: 20 passes over 2,000 random
        pool rows).

    Attributes
    ----------
    candidates_, indices_, extras_, scores_ : as for :class:`BALD`
    """

    #: The net the conformance suite fits for this strategy.
    def __skactive_tags__(self) -> StrategyTags:
        # The suite's nets must generate: a GenerativeAugmentationNet.
        return replace(super().__skactive_tags__(), conformance_net=GenerativeAugmentationNet)

    def prepare(self, estimator):
        network = _torch.find_network(estimator, what="BGADL")
        if not isinstance(network.net, GenerativeAugmentationNet):
            raise TypeError(
                f"estimator: BGADL queries a classifier trained beside a VAE-ACGAN, and "
                f"{type(network.net).__name__} is not one; use "
                "skactive.nets.GenerativeAugmentationNet (make_net(..., "
                "net_class=GenerativeAugmentationNet)), or BALD for a plain net"
            )
        return super().prepare(estimator)
