"""Label Studio's ML backend protocol, through the app's own test client."""

import copy
import json

import numpy as np
import pytest

from .conftest import DIGITS_CONFIG, EXTRA_MISSING, annotation, task

pytest.importorskip("flask", reason=EXTRA_MISSING)
pytest.importorskip("PIL", reason=EXTRA_MISSING)

from skactive.label_studio import LabelStudioBackend, TaskReader, load_backend, make_app


def _post(client, path, payload):
    return client.post(path, data=json.dumps(payload), content_type="application/json")


def _event(action, ann, tsk, project=3):
    return {"action": action, "annotation": ann, "task": tsk, "project": {"id": project}}


@pytest.fixture
def pool_tasks(digits_split):
    _, _, X_pool, y_pool, *_ = digits_split
    return [task(100 + i, X_pool[i]) for i in range(30)], X_pool[:30], y_pool[:30]


def test_health_names_the_model_and_version(client):
    answer = client.get("/health").get_json()
    assert answer["status"] == "UP"
    assert answer["model_class"] == "NeuralNetClassifier"
    assert answer["model_version"] == "skactive-v0"


def test_setup_answers_the_model_version_and_refuses_what_it_cannot_serve(client, backend):
    backend.save()
    answer = _post(client, "/setup", {"project": "3.1764000000", "schema": DIGITS_CONFIG})
    assert answer.status_code == 200
    assert answer.get_json() == {"model_version": "skactive-v0"}
    saved = backend.path.read_bytes()
    other = _post(client, "/setup", {"project": "4.1", "schema": DIGITS_CONFIG})
    assert other.status_code == 400
    assert "serves project 3, not project 4" in other.get_json()["error"]
    cats = DIGITS_CONFIG.replace('value="9"', 'value="cat"')
    refused = _post(client, "/setup", {"project": 3, "schema": cats})
    assert refused.status_code == 400
    assert "choices ['cat'] are not classes" in refused.get_json()["error"]
    assert backend.path.read_bytes() == saved
    assert client.get("/health").status_code == 200


def test_predict_scores_follow_the_strategy_lowest_first(client, backend, pool_tasks):
    tasks, _, _ = pool_tasks
    answer = _post(client, "/predict", {"tasks": tasks, "project": "3.1"}).get_json()
    results = answer["results"]
    assert len(results) == len(tasks)
    # The known answer: entropy sampling labels the most uncertain task first.
    reader = TaskReader((1, 8, 8))
    rows = np.stack([reader.read(t) for t in tasks])
    proba = backend.learner.predict_proba(rows)
    entropy = -(proba * np.log(np.clip(proba, 1e-12, None))).sum(axis=1)
    scores = np.array([r["score"] for r in results])
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(-entropy, kind="stable"))
    np.testing.assert_allclose(np.sort(scores), np.arange(len(tasks)) / len(tasks))
    predicted = backend.learner.predict(rows)
    for result, label in zip(results, predicted, strict=True):
        (choice,) = result["result"]
        assert choice["from_name"] == "digit" and choice["to_name"] == "image"
        assert choice["value"] == {"choices": [str(label)]}
        assert result["model_version"] == "skactive-v0"
        assert 0 <= result["cluster"] < 8
    assert len({r["cluster"] for r in results}) > 1


def test_bad_tasks_get_errors_in_place_and_the_rest_are_answered(client, pool_tasks):
    tasks, _, _ = pool_tasks
    bad = [{"id": 1, "data": {}}, {"id": 2, "data": {"image": "data:image/png;base64,aGk="}}]
    mixed = [tasks[0], bad[0], tasks[1], bad[1]]
    results = _post(client, "/predict", {"tasks": mixed}).get_json()["results"]
    assert [("error" in r) for r in results] == [False, True, False, True]
    assert results[1]["score"] == 1.0 and results[1]["result"] == []
    assert "task 1: missing data.image" in results[1]["error"]
    assert {results[0]["score"], results[2]["score"]} == {0.0, 0.5}


def test_ten_thousand_tasks_are_answered_in_order(fitted_learner, digits):
    X, _ = digits
    pool = np.resize(X, (10_000, *X.shape[1:]))
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner), label_config=DIGITS_CONFIG, pool=pool
    )
    tasks = [{"id": i, "data": {"row": i}} for i in range(10_000)]
    results = _post(make_app(backend).test_client(), "/predict", {"tasks": tasks})
    results = results.get_json()["results"]
    assert len(results) == 10_000
    scores = np.array([r["score"] for r in results])
    np.testing.assert_allclose(np.sort(scores), np.arange(10_000) / 10_000)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("not json", "body: expected a JSON object"),
        ("[1, 2]", "body: expected a JSON object"),
        ('{"tasks": 3}', "tasks: expected a list"),
    ],
)
def test_malformed_predict_requests_are_refused(client, body, match):
    answer = client.post("/predict", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert match in answer.get_json()["error"]


def test_webhook_teaches_once_relabels_and_forgets_saving_before_it_answers(
    client, backend, pool_tasks
):
    tasks, _, y = pool_tasks
    n = len(backend.learner.y_labeled_)
    created = _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), tasks[0])
    )
    assert created.status_code == 201
    assert created.get_json()["outcomes"] == ["taught"]
    saved = load_backend(backend.path).learner
    assert len(saved.y_labeled_) == n + 1 and saved.y_labeled_[-1] == y[0]
    again = _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), tasks[0])
    )
    assert again.get_json()["outcomes"] == ["duplicate"]
    assert len(load_backend(backend.path).learner.y_labeled_) == n + 1
    new_label = (y[0] + 1) % 10
    updated = _post(
        client, "/webhook", _event("ANNOTATION_UPDATED", annotation(1, 100, new_label), tasks[0])
    )
    assert updated.get_json()["outcomes"] == ["relabeled"]
    saved = load_backend(backend.path)
    assert saved.learner.y_labeled_[-1] == new_label
    entry = saved.ledger[100]
    assert (entry.label, entry.answer_ids()) == (str(new_label), {1})
    assert saved.learner.rows_of([100]).tolist() == [n]
    deleted = _post(
        client,
        "/webhook",
        {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}], "project": {"id": 3}},
    )
    assert deleted.get_json()["outcomes"] == ["forgotten"]
    saved = load_backend(backend.path)
    assert len(saved.learner.y_labeled_) == n and saved.ledger == {}


def test_each_refit_gives_a_new_model_version_used_by_predictions(client, backend, pool_tasks):
    tasks, _, y = pool_tasks
    for i in range(3):
        _post(
            client, "/webhook", _event("ANNOTATION_CREATED", annotation(i, 100 + i, y[i]), tasks[i])
        )
    assert client.get("/health").get_json()["n_trained"] == 40
    trained = _post(client, "/webhook", {"action": "START_TRAINING", "project": {"id": 3}})
    assert trained.get_json()["model_version"] == "skactive-v1"
    assert client.get("/health").get_json()["n_trained"] == 43
    results = _post(client, "/predict", {"tasks": tasks[3:6]}).get_json()["results"]
    assert {r["model_version"] for r in results} == {"skactive-v1"}
    X_train, _, _ = backend.learner.training_set()
    assert len(X_train) == 43


def test_refused_events_change_nothing(client, backend, pool_tasks):
    tasks, _, y = pool_tasks
    _post(client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), tasks[0]))
    saved = backend.path.read_bytes()
    other = _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(2, 101, 1), tasks[1], project=9)
    )
    assert other.status_code == 400 and "not project 9" in other.get_json()["error"]
    cat = annotation(3, 101, "cat")
    refused = _post(client, "/webhook", _event("ANNOTATION_CREATED", cat, tasks[1]))
    assert "'cat' is not one of the classes" in refused.get_json()["outcomes"][0]
    unreadable = _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(4, 1, 1), {"id": 1, "data": {}})
    )
    assert "task 1: missing data.image" in unreadable.get_json()["outcomes"][0]
    skipped = {**annotation(5, 101, 1), "was_cancelled": True}
    assert _post(client, "/webhook", _event("ANNOTATION_CREATED", skipped, tasks[1])).get_json()[
        "outcomes"
    ] == ["skipped"]
    assert backend.path.read_bytes() == saved
    assert len(backend.learner.y_labeled_) == 41


def test_no_acknowledged_label_is_lost_when_the_server_dies(
    client, backend, pool_tasks, monkeypatch
):
    tasks, _, y = pool_tasks
    _post(client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), tasks[0]))
    # The server dies while saving the next answer: that answer is never acknowledged ...
    import skactive.label_studio.backend as module

    def die(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(module, "save_pickle", die)
    failed = _post(
        client, "/webhook", _event("ANNOTATION_CREATED", annotation(2, 101, y[1]), tasks[1])
    )
    assert failed.status_code == 503
    assert str(backend.path) in failed.get_json()["error"]
    monkeypatch.undo()
    # ... and a restart on the same file has every label that was.
    backend.close_file()  # the server died
    restarted = load_backend(backend.path, background_refit=False)
    assert list(restarted.ledger) == [100]
    assert restarted.learner.y_labeled_[-1] == y[0]
    again = make_app(restarted).test_client()
    retried = _post(
        again, "/webhook", _event("ANNOTATION_CREATED", annotation(2, 101, y[1]), tasks[1])
    )
    assert retried.get_json()["outcomes"] == ["taught"]
    assert len(load_backend(backend.path).learner.y_labeled_) == 42


def test_background_refit_follows_an_answer(fitted_learner, tmp_path, pool_tasks):
    tasks, _, y = pool_tasks
    backend = LabelStudioBackend(
        copy.deepcopy(fitted_learner), path=tmp_path / "b.skactive", label_config=DIGITS_CONFIG
    ).start()
    try:
        client = make_app(backend).test_client()
        _post(client, "/webhook", _event("ANNOTATION_CREATED", annotation(1, 100, y[0]), tasks[0]))
        assert backend.wait_for_refit(timeout=60)
        assert backend.model_version == "skactive-v1"
        assert load_backend(tmp_path / "b.skactive").version == 1
    finally:
        backend.stop(timeout=60)


def test_basic_auth_and_request_size_limits(backend):
    client = make_app(backend, basic_auth=("ann", "s3cret"), max_request_bytes=1000).test_client()
    assert client.get("/health").status_code == 401
    wrong = client.get("/health", auth=("ann", "nope"))
    assert wrong.status_code == 401
    assert client.get("/health", auth=("ann", "s3cret")).status_code == 200
    big = client.post(
        "/predict", data="x" * 2000, content_type="application/json", auth=("ann", "s3cret")
    )
    assert big.status_code == 413


def test_the_token_is_never_saved(backend):
    backend.setup(3, DIGITS_CONFIG, hostname="http://127.0.0.1:8080", access_token="secret-token")
    backend.save()
    assert b"secret-token" not in backend.path.read_bytes()
    assert backend.credential.header_for("http://127.0.0.1:8080/x") == {
        "Authorization": "Token secret-token"
    }


def test_train_teaches_the_latest_annotation_of_each_exported_task(client, backend, pool_tasks):
    tasks, _, y = pool_tasks
    exported = [
        {**tasks[0], "annotations": [annotation(1, 100, y[0])]},
        {**tasks[1], "annotations": []},
        {**tasks[2], "annotations": [annotation(2, 102, "cat")]},
    ]
    answer = _post(client, "/train", {"annotations": exported, "project": "3.1"})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["outcomes"][:2] == ["taught", "unannotated"]
    assert "'cat' is not one of the classes" in body["outcomes"][2]
    assert body["model_version"] == "skactive-v1"
    assert list(load_backend(backend.path).ledger) == [100]
    again = _post(client, "/train", {"annotations": exported[:2], "project": "3.1"})
    assert again.get_json()["model_version"] == "skactive-v1"  # nothing new: no refit
    gone = _post(client, "/webhook", {"action": "ANNOTATIONS_DELETED", "annotations": [7]})
    assert gone.status_code == 400 and "annotations: expected a list" in gone.get_json()["error"]
    refused = _post(client, "/train", {"annotations": "all"})
    assert (
        refused.status_code == 400 and "annotations: expected a list" in refused.get_json()["error"]
    )


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"background_refit": "yes"}, "background_refit"),
        ({"embedding": "simclr"}, "embedding"),
    ],
)
def test_bad_backend_parameters_are_refused_by_name(fitted_learner, params, match):
    with pytest.raises(ValueError, match=match):
        LabelStudioBackend(fitted_learner, **params)


def test_clusters_come_from_a_shared_embedding_when_one_is_given(fitted_learner, pool_tasks):
    from sklearn.cluster import KMeans

    from skactive.embeddings import flattened_rows

    tasks, rows, _ = pool_tasks
    backend = LabelStudioBackend(
        fitted_learner, embedding=flattened_rows, n_clusters=4, background_refit=False
    )
    backend.setup(3, DIGITS_CONFIG)
    clusters = [r["cluster"] for r in backend.predict(tasks)]
    # The known answer: k-means of the labelled rows' pixels, applied to the tasks'.
    labeled = flattened_rows(fitted_learner.X_labeled_).astype(np.float64)
    kmeans = KMeans(n_clusters=4, n_init=3, random_state=0).fit(labeled)
    np.testing.assert_array_equal(clusters, kmeans.predict(flattened_rows(rows).astype(np.float64)))


def test_cluster_ids_carry_over_a_refit(fitted_learner, pool_tasks):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from skactive.embeddings import flattened_rows

    tasks, rows, y = pool_tasks
    backend = LabelStudioBackend(
        fitted_learner, embedding=flattened_rows, n_clusters=4, background_refit=False
    )
    backend.setup(3, DIGITS_CONFIG)
    before = np.array([r["cluster"] for r in backend.predict(tasks)])
    for i in range(3):
        backend.teach_annotation(tasks[i], annotation(i, 100 + i, y[i]))
    backend.refit()
    after = np.array([r["cluster"] for r in backend.predict(tasks)])
    # The refit's k-means starts from the served groups and its clusters take
    # the ids they share most rows with: most tasks keep theirs.
    assert (before == after).mean() >= 0.9
    # A fresh k-means of the 43 labelled rows (the backend before) renumbers.
    fresh = [
        KMeans(n_clusters=4, n_init=3, random_state=0)
        .fit(flattened_rows(learner.X_labeled_).astype(np.float64))
        .predict(flattened_rows(rows).astype(np.float64))
        for learner in (fitted_learner, backend.learner)
    ]
    assert (fresh[0] == fresh[1]).mean() < 0.5
    assert adjusted_rand_score(before, after) > adjusted_rand_score(*fresh)


def test_a_second_prediction_of_the_same_tasks_reads_no_image(backend, pool_tasks, monkeypatch):
    tasks, _, _ = pool_tasks
    reads = []
    original = TaskReader.read
    monkeypatch.setattr(
        TaskReader, "read", lambda self, task: reads.append(1) or original(self, task)
    )
    first = backend.predict(tasks)
    assert len(reads) == len(tasks)
    again = backend.predict(tasks)
    assert len(reads) == len(tasks) and again == first  # every row came from the cache
    moved = [dict(tasks[0], data={"image": tasks[1]["data"]["image"]})]
    backend.predict(moved)
    assert len(reads) == len(tasks) + 1  # new data for a known task id: read again
