"""
Choosing a strategy for a budget
================================

Which strategy to use depends on how many labels you can pay for. This
example does not train anything: it plots the project's saved results on
Fashion-MNIST with LeNet-5 (3 seeds, 100 to 1,000 labels,
``docs/_static/fashion-mnist_lenet5_budget.csv``, made by the command in
:doc:`/results`), because training them takes hours on a CPU. At 200
labels DFAL trails random; the ``schedule`` arm (random rows with twins
below 300 labels, then DFAL) leads at every budget. :doc:`/user_guide/choosing`
gives the recommendations.
"""

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
table = next(
    p / "docs" / "_static" / "fashion-mnist_lenet5_budget.csv"
    for p in (here, *here.parents)
    if (p / "docs" / "_static" / "fashion-mnist_lenet5_budget.csv").is_file()
)
accuracy = defaultdict(lambda: defaultdict(list))
with table.open() as handle:
    for row in csv.DictReader(handle):
        accuracy[row["strategy"]][int(row["n_labeled"])].append(float(row["accuracy"]))

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for strategy, by_labels in sorted(accuracy.items()):
    labels = sorted(by_labels)
    means = [np.mean(by_labels[n]) for n in labels]
    ax.plot(labels, means, marker=".", label=f"{strategy} ({len(by_labels[labels[0]])} seeds)")
ax.set_xlabel("labelled images")
ax.set_ylabel("test accuracy (mean over seeds)")
ax.set_title("Fashion-MNIST, LeNet-5 (saved results)")
ax.legend(fontsize=8)
fig.tight_layout()
