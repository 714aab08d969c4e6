"""The poller's logic against an in-memory stand-in for Label Studio's REST API.

The real API is exercised by test_end_to_end.py; here each rule of
:func:`~skactive.label_studio.sync` is checked on its own.
"""

import copy

import pytest

from .conftest import DIGITS_CONFIG, EXTRA_MISSING, annotation, task

pytest.importorskip("PIL", reason=EXTRA_MISSING)

from skactive.label_studio import LabelStudioBackend, LabelStudioError, load_backend, sync


class FakeLabelStudio:
    """Tasks, predictions and a model version, as the four REST calls see them."""

    def __init__(self, tasks):
        self.url, self.token = "http://label-studio.invalid", "token"
        self.tasks_ = {t["id"]: {**t, "annotations": [], "predictions": []} for t in tasks}
        self.model_version, self.sampling = "", "Sequential sampling"
        self.calls, self.seen_samplable, self.version_endpoint = [], [], True
        self.locked = 0  # how many next version removals fail as "database is locked"

    def project(self, project):
        info = {"id": project, "label_config": DIGITS_CONFIG, "sampling": self.sampling}
        return {**info, "model_version": self.model_version}

    def tasks(self, project):
        return copy.deepcopy(list(self.tasks_.values()))

    def post_prediction(self, prediction):
        self.calls.append("post_prediction")
        self._store({**prediction})

    def import_predictions(self, project, predictions):
        self.calls.append("import_predictions")
        for prediction in predictions:
            self._store({k: v for k, v in prediction.items() if k != "cluster"})

    def delete_model_version(self, project, version):
        self.calls.append("delete_model_version")
        if not self.version_endpoint:
            raise LabelStudioError("Label Studio answered 405 to DELETE model-versions", 405)
        if self.locked:
            self.locked -= 1
            raise LabelStudioError("Label Studio answered 500: database is locked", 500)
        for stored in self.tasks_.values():
            stored["predictions"] = [
                p for p in stored["predictions"] if p.get("model_version") != version
            ]
        self._observe()

    def delete_prediction(self, prediction_id):
        self.calls.append("delete_prediction")
        for stored in self.tasks_.values():
            stored["predictions"] = [p for p in stored["predictions"] if p["id"] != prediction_id]
        self._observe()

    def _store(self, prediction):
        self.next_id = getattr(self, "next_id", 0) + 1
        self.tasks_[prediction["task"]]["predictions"].append({**prediction, "id": self.next_id})
        self._observe()

    def samplable(self):
        """Unlabelled tasks uncertainty sampling can serve (a prediction of the version)."""
        return sum(
            1
            for t in self.tasks_.values()
            if not t["annotations"]
            and any(p.get("model_version") == self.model_version for p in t["predictions"])
        )

    def _observe(self):
        self.seen_samplable.append(self.samplable())

    def set_sampling(self, project, sampling):
        self.calls.append("set_sampling")
        self.sampling = sampling

    def set_model_version(self, project, version):
        self.calls.append("set_model_version")
        versions = {p["model_version"] for t in self.tasks_.values() for p in t["predictions"]}
        assert version in versions, "Label Studio refuses a version no prediction carries"
        self.model_version = version
        self._observe()


@pytest.fixture
def studio(digits_split):
    _, _, X_pool, _, _, _ = digits_split
    return FakeLabelStudio([task(100 + i, X_pool[i]) for i in range(12)])


@pytest.fixture
def labels(digits_split):
    return {100 + i: int(label) for i, label in enumerate(digits_split[3][:12])}


def test_first_sync_pushes_one_prediction_per_task_and_sets_the_version(backend, studio):
    studio.tasks_[111]["predictions"] = [{"id": 500, "model_version": "someone-else", "score": 0.3}]
    report = sync(backend, studio, 3)
    assert report.n_predictions == 12 and not report.refitted
    assert studio.model_version == "skactive-v0"
    assert studio.sampling == "Uncertainty sampling"
    assert [len(t["predictions"]) for t in studio.tasks_.values()] == [1] * 11 + [2]
    assert all("cluster" in t["predictions"][-1] for t in studio.tasks_.values())
    assert studio.tasks_[111]["predictions"][0]["model_version"] == "someone-else"


def test_answers_are_taught_refitted_and_only_unlabelled_tasks_get_predictions(
    backend, studio, labels
):
    sync(backend, studio, 3)
    for i, task_id in enumerate((100, 101, 102)):
        studio.tasks_[task_id]["annotations"] = [annotation(i, task_id, labels[task_id])]
    report = sync(backend, studio, 3)
    assert report.outcomes == {"taught": 3} and report.refitted
    assert studio.model_version == "skactive-v1"
    fresh = [
        t["id"]
        for t in studio.tasks_.values()
        if t["predictions"] and t["predictions"][-1]["model_version"] == "skactive-v1"
    ]
    assert fresh == list(range(103, 112))
    # The answered tasks' v0 predictions went with v0: no version but the current one.
    assert all(not studio.tasks_[task_id]["predictions"] for task_id in (100, 101, 102))
    assert sorted(load_backend(backend.path).ledger) == [100, 101, 102]


def test_a_second_sync_with_nothing_new_changes_nothing(backend, studio, labels):
    studio.tasks_[100]["annotations"] = [annotation(1, 100, labels[100])]
    sync(backend, studio, 3)
    studio.calls.clear()
    saved = backend.path.read_bytes()
    report = sync(backend, studio, 3)
    assert report.outcomes == {"duplicate": 1} and not report.refitted
    assert report.n_predictions == 0 and studio.calls == []
    assert backend.path.read_bytes() == saved


def test_updates_deletions_and_bad_answers(backend, studio, labels):
    studio.tasks_[100]["annotations"] = [annotation(1, 100, labels[100])]
    studio.tasks_[101]["annotations"] = [annotation(2, 101, labels[101])]
    sync(backend, studio, 3)
    later = annotation(1, 100, (labels[100] + 1) % 10, updated_at="2026-12-03T11:00:00")
    studio.tasks_[100]["annotations"] = [later]
    studio.tasks_[101]["annotations"] = []
    studio.tasks_[102]["annotations"] = [annotation(3, 102, "cat")]
    report = sync(backend, studio, 3)
    assert report.outcomes == {"relabeled": 1, "forgotten": 1, "error": 1}
    assert "'cat' is not one of the classes" in report.errors[0]
    assert backend.ledger[100].label == str((labels[100] + 1) % 10)
    assert list(backend.ledger) == [100]
    assert len(backend.learner.y_labeled_) == 41


def test_the_latest_of_several_annotations_counts(backend, studio, labels):
    first = annotation(1, 100, labels[100], updated_at="2026-12-03T10:00:00")
    second = annotation(2, 100, (labels[100] + 3) % 10, updated_at="2026-12-03T12:00:00")
    studio.tasks_[100]["annotations"] = [second, first]
    sync(backend, studio, 3)
    entry = backend.ledger[100]
    assert entry.label == str((labels[100] + 3) % 10)
    assert backend.learner.rows_of([100]).tolist() == [40]
    assert entry.answer_ids() == {1, 2}  # both kept: deleting one falls back on the other


def test_bulk_pushes_go_in_imports_of_a_chunk_each(backend, studio, monkeypatch):
    import skactive.label_studio.poller as module

    monkeypatch.setattr(module, "IMPORT_CHUNK", 5)  # 12 predictions: 5 + 5 + 2
    report = sync(backend, studio, 3, push="bulk")
    assert report.n_predictions == 12
    assert studio.calls.count("import_predictions") == 3
    assert [len(t["predictions"]) for t in studio.tasks_.values()] == [1] * 12
    # The version switches once, after the last chunk: the queue never holds a part.
    assert studio.calls[2:4] == ["import_predictions", "set_model_version"]


def test_bulk_pushes_go_in_one_import_and_auto_switches_to_it_beyond_the_limit(
    backend, studio, monkeypatch
):
    import skactive.label_studio.poller as module

    monkeypatch.setattr(module, "ONE_BY_ONE_LIMIT", 11)
    with pytest.raises(ValueError, match="push must be one of"):
        sync(backend, studio, 3, push="sometimes")
    assert studio.calls == [] and not backend.path.exists()  # refused before any work
    report = sync(backend, studio, 3, set_sampling=False)
    assert report.n_predictions == 12
    assert studio.calls == ["import_predictions", "set_model_version"]
    assert studio.sampling == "Sequential sampling"


def test_a_sync_refits_answers_a_stopped_server_saved_but_never_trained(
    fitted_learner, tmp_path, studio, labels
):
    path = tmp_path / "b.skactive"
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=path, label_config=DIGITS_CONFIG, background_refit=False
    )
    backend.teach_annotation(studio.tasks_[100], annotation(1, 100, labels[100]))
    backend.close_file()  # the server stopped
    restarted = load_backend(path, background_refit=False)
    assert restarted.refit_due and restarted.n_trained == 40
    studio.tasks_[100]["annotations"] = [annotation(1, 100, labels[100])]
    report = sync(restarted, studio, 3)
    assert report.outcomes == {"duplicate": 1} and report.refitted
    assert restarted.n_trained == 41 and not restarted.refit_due


def test_the_poller_and_the_refit_thread_refit_once_per_change_set(
    fitted_learner, tmp_path, studio, labels
):
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=tmp_path / "b.skactive", label_config=DIGITS_CONFIG
    ).start()
    try:
        for i, task_id in enumerate((100, 101, 102)):
            studio.tasks_[task_id]["annotations"] = [annotation(i, task_id, labels[task_id])]
        sync(backend, studio, 3)
        assert backend.wait_for_refit(timeout=60)
        assert backend.refit_if_due() is None
        assert backend.version == 1 and backend.n_trained == 43
    finally:
        backend.stop(timeout=60)


@pytest.mark.parametrize("push", ["one-by-one", "bulk"])
@pytest.mark.parametrize("version_endpoint", [True, False], ids=["by-version", "one-by-one"])
def test_an_update_never_shrinks_the_queue_and_keeps_one_version(
    backend, studio, labels, push, version_endpoint
):
    studio.version_endpoint = version_endpoint
    sync(backend, studio, 3, push=push)
    for i, task_id in enumerate((100, 101, 102)):
        studio.tasks_[task_id]["annotations"] = [annotation(i, task_id, labels[task_id])]
    studio.seen_samplable.clear()
    report = sync(backend, studio, 3, push=push)
    assert report.refitted and report.removed == 1 and studio.model_version == "skactive-v1"
    # At every step of the update, Label Studio could sample all 9 unlabelled tasks.
    assert studio.seen_samplable and min(studio.seen_samplable) == 9
    versions = [
        [p["model_version"] for p in t["predictions"]]
        for task_id, t in studio.tasks_.items()
        if task_id > 102
    ]
    assert versions == [["skactive-v1"]] * 9  # the older version is gone
    assert ("delete_prediction" in studio.calls) == (not version_endpoint)


def test_a_failed_version_removal_is_retried_next_sync_not_done_task_by_task(
    backend, studio, labels
):
    sync(backend, studio, 3)
    studio.tasks_[100]["annotations"] = [annotation(1, 100, labels[100])]
    studio.locked = 1  # an annotator's save holds SQLite's lock during the removal
    report = sync(backend, studio, 3)
    assert "delete_prediction" not in studio.calls
    assert report.removed == 0 and any("retried next sync" in e for e in report.errors)
    assert {p["model_version"] for t in studio.tasks_.values() for p in t["predictions"]} == {
        "skactive-v0",
        "skactive-v1",
    }
    assert min(studio.seen_samplable[-3:]) == studio.samplable()  # nothing shrank meanwhile
    report = sync(backend, studio, 3)
    assert report.removed == 1 and not report.errors
    versions = {p["model_version"] for t in studio.tasks_.values() for p in t["predictions"]}
    assert versions == {"skactive-v1"}


def test_bulk_writes_wait_longer_than_other_requests(monkeypatch):
    pytest.importorskip("requests", reason=EXTRA_MISSING)
    from skactive.label_studio import LabelStudioClient
    from skactive.label_studio.poller import BULK_TIMEOUT

    client = LabelStudioClient("http://127.0.0.1:9", "a" * 40, timeout=30.0)
    waited = {}

    class Answer:
        status_code, content, is_redirect = 200, b"", False

    def request(method, url, *, timeout, **kwargs):
        waited[method, url.rsplit("/api/", 1)[1]] = timeout
        return Answer()

    monkeypatch.setattr(client.session, "request", request)  # no connection is made
    client.import_predictions(3, [])
    client.delete_model_version(3, "skactive-v1")
    client.set_model_version(3, "skactive-v2")
    assert waited == {
        ("POST", "projects/3/import/predictions"): BULK_TIMEOUT,
        ("DELETE", "projects/3/model-versions/"): BULK_TIMEOUT,
        ("PATCH", "projects/3"): 30.0,
    }
