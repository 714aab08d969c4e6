"""Same random_state, same data, same torch: identical queries, every strategy."""

import numpy as np
import pytest

from skactive import ActiveLearner
from skactive.experiments.registry import STRATEGIES, estimator_for
from skactive.strategies import BGADL, CoreSet, LearningLoss

from .conftest import tiny_net

pytestmark = pytest.mark.slow  # sweeps over every strategy or example

CASES = {name: (lambda cls=cls: cls(candidates=200)) for name, cls in STRATEGIES.items()}
CASES["bald"] = lambda: STRATEGIES["bald"](n_samples=3, candidates=200)
# Strategies that train models of their own: few steps still exercise every seed.
CASES["vaal"] = lambda: STRATEGIES["vaal"](n_iterations=20, candidates=200)
CASES["dal"] = lambda: STRATEGIES["dal"](max_epochs=10, candidates=200)
CASES["bald_vae_twins"] = lambda: STRATEGIES["bald_vae_twins"](
    n_samples=3, n_iterations=20, candidates=200
)
CASES["coreset-mip"] = lambda: CoreSet(
    method="mip", time_limit=0.5, max_bisections=3, candidates=150
)


def _campaign(make_strategy, digits_split, seed):
    X_init, y_init, X_pool, y_pool, *_ = digits_split
    strategy = make_strategy()
    net = tiny_net(max_epochs=2)
    if isinstance(strategy, LearningLoss):
        net = estimator_for("learning_loss", net)
    if isinstance(strategy, BGADL):
        net = estimator_for("bgadl", net)
    learner = ActiveLearner(net, strategy, random_state=seed)
    learner.fit(X_init, y_init)
    queries = []
    for _ in range(3):
        idx = learner.query(X_pool, 5)
        queries.append(idx.tolist())
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    return queries, learner.predict_proba(X_init[:5])


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_runs_give_identical_queries(name, digits_split):
    first, proba_first = _campaign(CASES[name], digits_split, seed=3)
    second, proba_second = _campaign(CASES[name], digits_split, seed=3)
    assert first == second
    np.testing.assert_array_equal(proba_first, proba_second)


def test_another_seed_changes_random_choices(digits_split):
    first, _ = _campaign(CASES["random"], digits_split, seed=3)
    other, _ = _campaign(CASES["random"], digits_split, seed=4)
    assert first != other


def test_every_seed_handed_on_is_drawn_by_one_helper():
    """No hand-written seed bound outside ``draw_seed``, no draw from numpy's global generator."""
    import re
    from pathlib import Path

    import skactive

    package = Path(skactive.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_validation.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(
                r"2\s*\*\*\s*31|np\.random\.(rand|randn|randint|choice|permutation|"
                r"shuffle|seed|normal|uniform|random)\(",
                line,
            ):
                offenders.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    assert not offenders, "draw seeds with skactive._validation.draw_seed:\n" + "\n".join(offenders)


def test_draw_seed_takes_one_draw_of_the_stream():
    from sklearn.utils import check_random_state

    from skactive._validation import MAX_SEED, draw_seed

    a, b = check_random_state(7), check_random_state(7)
    assert draw_seed(a) == int(b.randint(MAX_SEED))
    np.testing.assert_array_equal(draw_seed(a, size=3), b.randint(MAX_SEED, size=3))
