"""The code the README and the quickstart show runs as written."""

import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # sweeps over every strategy or example

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".md":
        return re.findall(r"```python\n(.*?)```", text, flags=re.S)
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", block, flags=re.M) for block in blocks]


@pytest.mark.parametrize("document", ["README.md", "docs/quickstart.rst"])
def test_documented_labelling_loop_runs(document):
    blocks = _python_blocks(ROOT / document)
    assert blocks, f"no python example found in {document}"
    namespace: dict = {}
    exec(compile(blocks[0], document, "exec"), namespace)
    learner = namespace["learner"]
    assert len(learner.y_labeled_) == 50 + 5 * 20
    assert learner.n_iter_ == 5 and len(learner.history_) == 5


def test_committees_guide_example_runs():
    blocks = _python_blocks(ROOT / "docs/user_guide/committees.rst")
    namespace: dict = {}
    exec(compile(blocks[0], "committees.rst", "exec"), namespace)
    learner = namespace["learner"]
    assert len(learner.y_labeled_) == 60 + 2 * 20
    assert len(learner.estimator_.estimators_) == 5


def test_diversity_guide_example_runs():
    blocks = _python_blocks(ROOT / "docs/user_guide/diversity.rst")
    namespace: dict = {}
    exec(compile(blocks[0], "diversity.rst", "exec"), namespace)
    params = namespace["strategy"].get_params()
    assert params["strategy__overshoot"] == 0.02 and params["factor"] == 5
    assert params["strategy__max_iter"] == 50


def test_unlabeled_pool_guide_examples_run():
    blocks = _python_blocks(ROOT / "docs/user_guide/unlabeled_pool.rst")
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"unlabeled_pool.rst[{i}]", "exec"), namespace)
    assert namespace["n_seen"] == 1000  # 80 labelled rows + the 920 left in the pool
    assert len(namespace["idx"]) == 10
    assert namespace["learner"].estimator_.loss_module_ is not None
    # The SimCLR block: 20 distinct first rows chosen before any label, then fitted.
    assert len(set(namespace["first"].tolist())) == 20
    assert len(namespace["simclr_learner"].y_labeled_) == 20
    # The FixMatch block trained on the pool (its mask rates were recorded).
    assert len(namespace["fixmatch_learner"].estimator_.unlabeled_history_) == 2


def test_bgadl_guide_example_runs():
    (block,) = [
        b for b in _python_blocks(ROOT / "docs/user_guide/representation.rst") if "BGADL" in b
    ]
    namespace: dict = {}
    exec(compile(block, "representation.rst", "exec"), namespace)
    assert namespace["X_fake"].shape == (80, 1, 8, 8)
    np.testing.assert_array_equal(namespace["y_fake"], np.repeat(np.arange(10), 8))
    assert namespace["X_rec"].shape == (20, 1, 8, 8) and len(set(namespace["idx"])) == 20
