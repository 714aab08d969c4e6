"""
A first campaign
================

An :class:`~skactive.ActiveLearner` around a LeNet-5 (a skorch net) labels
scikit-learn's digits: it starts from 30 labelled images, asks the oracle
for 20 more per round, and is compared with random sampling on the same
start. The oracle here is the data set's own labels
(:func:`~skactive.simulation.simulate`).
"""

import matplotlib.pyplot as plt
import numpy as np

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.simulation import simulate
from skactive.strategies import MarginSampling, RandomSampling

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
start = np.concatenate([order[y[order] == k][:3] for k in range(10)])
rest = np.setdiff1d(order, start)
pool, test = rest[:1000], rest[1000:]

# %%
# One campaign per strategy, same network, same start, same seed.
curves = {}
for name, strategy in [("margin", MarginSampling()), ("random", RandomSampling())]:
    learner = ActiveLearner(
        make_net("lenet5", image_size=8, max_epochs=30, lr=3e-3, batch_size=32),
        strategy,
        random_state=0,
    )
    records = simulate(
        learner,
        X[start],
        y[start],
        X[pool],
        y[pool],
        X[test],
        y[test],
        n_rounds=5,
        query_size=20,
        progress=False,
    )
    curves[name] = ([r["n_labeled"] for r in records], [r["accuracy"] for r in records])
    print(name, [round(a, 3) for a in curves[name][1]])

# %%
# Test accuracy against the number of labels paid for.
fig, ax = plt.subplots(figsize=(6, 4))
for name, (labels, accuracy) in curves.items():
    ax.plot(labels, accuracy, marker="o", label=name)
ax.set_xlabel("labelled images")
ax.set_ylabel("test accuracy")
ax.set_title("digits, LeNet-5: margin sampling against random")
ax.legend()
fig.tight_layout()
