"""Ordering and grouping tasks for Label Studio: the ids clusters are served as."""

import numpy as np
import pytest

from skactive.label_studio.ranking import carry_cluster_ids


def test_a_renumbered_partition_keeps_its_ids():
    previous = {1: 0, 2: 0, 3: 1, 4: 2, 5: 2}
    # The same groups, numbered 2, 0, 1 by this version's k-means.
    ids = carry_cluster_ids(previous, [1, 2, 3, 4, 5], [2, 2, 0, 1, 1], 3)
    assert ids.tolist() == [1, 2, 0]


def test_clusters_match_by_the_rows_they_share_and_new_ones_take_free_ids():
    previous = {1: 4, 2: 4, 3: 4, 4: 7}
    # Cluster 1 holds old 4's rows, cluster 2 old 7's; cluster 0 holds rows
    # 5 and 6, unlabelled before: it is new and takes the smallest free id.
    ids = carry_cluster_ids(previous, [1, 2, 3, 4, 5, 6], [1, 1, 1, 2, 0, 0], 3)
    assert ids.tolist() == [0, 4, 7]


def test_a_cluster_sharing_no_row_with_an_old_one_is_new():
    # Row 4 (old 7) joined cluster 1; cluster 2 shares no row with any old id.
    ids = carry_cluster_ids({1: 4, 2: 4, 3: 4, 4: 7}, [1, 2, 3, 4, 5], [1, 1, 1, 1, 2], 3)
    assert ids[1] == 4 and ids[2] not in (4, 7) and len(set(ids.tolist())) == 3


def test_without_a_previous_version_ids_are_the_clusters_themselves():
    assert carry_cluster_ids({}, ["a", "b"], [1, 0], 3).tolist() == [0, 1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_ids_are_always_distinct(seed):
    rng = np.random.RandomState(seed)
    keys = list(range(40))
    previous = {k: int(v) for k, v in zip(keys[:30], rng.randint(0, 6, 30), strict=True)}
    ids = carry_cluster_ids(previous, keys, rng.randint(0, 8, 40), 8)
    assert len(set(ids.tolist())) == 8 and ids.min() >= 0
