"""The list endpoints the web page reads (GET /v1/datasets, /v1/reference-stats,
/v1/comparisons, /v1/ood and the summaries), over HTTP against a real server with two keys:
newest first, paged by an opaque cursor, and never showing one key's data to another."""

from __future__ import annotations

import numpy as np
import pytest
from api_server import Server, wait_job
from conftest import textured, write_png

KEY_A, KEY_B = "list-key-a", "list-key-b"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("lists") / "data", env={"FRD_API_KEYS": f"{KEY_A},{KEY_B}"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three small sets of 2D PNGs (the last with masks), as (name, images, masks)."""
    root = tmp_path_factory.mktemp("list-images")
    rng = np.random.default_rng(17)
    mask = np.zeros((40, 40), np.uint8)
    mask[6:34, 6:34] = 1
    sets = []
    for s, name in enumerate(("one", "two", "three")):
        paths = [write_png(root / name / f"img{i}.png", textured(rng, size=40, smooth=1.0 + s)) for i in range(4)]
        masks = (
            [write_png(root / f"{name}-masks" / f"img{i}_mask.png", mask) for i in range(4)] if name == "three" else []
        )
        sets.append((name, paths, masks))
    return sets


def post_set(client, name, paths, masks=()):
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]
    files += [("masks", (p.name, p.read_bytes(), "image/png")) for p in masks]
    return client.post("/v1/datasets", files=files, data={"name": name} if name is not None else None)


@pytest.fixture(scope="module")
def uploaded(server, images):
    ids = {}
    with server.client(KEY_A) as c:
        for name, paths, masks in images:
            r = post_set(c, name, paths, masks)
            assert r.status_code == 201, r.text
            assert r.json()["name"] == name
            ids[name] = r.json()["id"]
        for dataset_id in ids.values():
            extraction = c.get(f"/v1/datasets/{dataset_id}").json()["extraction"]
            assert wait_job(c, f"/v1/jobs/{extraction['id']}")["state"] == "succeeded"
    return ids


@pytest.fixture(scope="module")
def comparison(server, uploaded):
    """A finished comparison of "two" against "three"."""
    with server.client(KEY_A) as c:
        job = c.post(
            "/v1/comparisons", json={"reference": uploaded["two"], "candidate": uploaded["three"], "report": False}
        ).json()
        summary = c.get(f"/v1/comparisons/{job['id']}/summary").json()
        assert summary["state"] in ("queued", "running", "succeeded") and "progress" in summary
        assert wait_job(c, f"/v1/jobs/{job['id']}")["state"] == "succeeded"
    return job["id"]


def test_datasets_are_listed_newest_first_a_page_at_a_time(server, uploaded, images):
    with server.client(KEY_A) as c:
        first = c.get("/v1/datasets", params={"limit": 2}).json()
        assert [d["name"] for d in first["items"]] == ["three", "two"]
        assert first["next_cursor"]
        second = c.get("/v1/datasets", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [d["name"] for d in second["items"]] == ["one"] and second["next_cursor"] is None
        three = first["items"][0]
        sizes = sum(p.stat().st_size for p in images[2][1] + images[2][2])
        assert three["id"] == uploaded["three"]
        assert (three["n_images"], three["n_masks"], three["bytes"]) == (4, 4, sizes)
        assert three["kinds"] == ["png"] and three["dimensionality"] == "2D"
        assert three["extraction"]["state"] == "succeeded" and three["extraction"]["images"] == 4
        assert three["extraction"]["skipped"] == []
        assert three["links"]["self"] == f"/v1/datasets/{uploaded['three']}"
        assert c.get(f"/v1/datasets/{uploaded['one']}").json()["name"] == "one"
        # A row added while paging does not shift the next page (the cursor is a key, not an offset).
        added = post_set(c, "four", images[0][1][:2]).json()["id"]
        again = c.get("/v1/datasets", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [d["name"] for d in again["items"]] == ["one"]
        assert c.delete(f"/v1/datasets/{added}").status_code == 204


def test_another_key_lists_nothing_and_reads_no_summary(server, uploaded, comparison):
    with server.client(KEY_A) as a:
        cursor = a.get("/v1/datasets", params={"limit": 1}).json()["next_cursor"]
    with server.client(KEY_B) as b:
        for path in ("/v1/datasets", "/v1/reference-stats", "/v1/comparisons", "/v1/ood"):
            assert b.get(path).json() == {"items": [], "next_cursor": None}
        assert b.get("/v1/datasets", params={"cursor": cursor}).json()["items"] == []  # a cursor opens nothing
        assert b.get(f"/v1/comparisons/{comparison}/summary").status_code == 404
        assert b.get(f"/v1/comparisons/{comparison}").status_code == 404
    with server.client() as anonymous:
        assert anonymous.get("/v1/datasets").status_code == 401


def test_bad_paging_parameters_are_refused(server):
    with server.client(KEY_A) as c:
        for params in ({"limit": 0}, {"limit": 201}, {"cursor": "not-a-cursor"}, {"cursor": "WzEsMl0"}):
            r = c.get("/v1/comparisons", params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["error"]["code"] in ("invalid_request", "invalid_cursor")


def test_dataset_names_are_cleaned_and_bounded(server, images):
    paths = images[0][1][:2]
    with server.client(KEY_A) as c:
        r = post_set(c, "  scanner\tA\n<b>2024</b>  ", paths)
        assert r.status_code == 201 and r.json()["name"] == "scanner A <b>2024</b>"  # kept as text
        assert c.delete(f"/v1/datasets/{r.json()['id']}").status_code == 204
        long = post_set(c, "x" * 201, paths)
        assert long.status_code == 422 and long.json()["error"]["code"] == "invalid_name"
        unnamed = post_set(c, None, paths)
        assert unnamed.status_code == 201 and unnamed.json()["name"] is None
        assert c.delete(f"/v1/datasets/{unnamed.json()['id']}").status_code == 204


def test_comparisons_list_their_sets_state_and_value(server, uploaded, comparison):
    with server.client(KEY_A) as c:
        result = c.get(f"/v1/comparisons/{comparison}").json()
        item = c.get("/v1/comparisons").json()["items"][0]
        assert item["id"] == comparison and item["state"] == "succeeded"
        assert item["reference"] == {"id": uploaded["two"], "name": "two", "exists": True}
        assert item["candidate"] == {"id": uploaded["three"], "name": "three", "exists": True}
        assert item["version"] == "v1" and item["bootstrap"] == 0 and item["report"] is False
        assert item["result"]["frd"] == result["frd"] and item["result"]["ci"] == result["ci"]
        assert (item["result"]["n_reference"], item["result"]["n_candidate"]) == (4, 4)
        assert c.get(f"/v1/comparisons/{comparison}/summary").json() == item
        # Per class and per filter, the contributions add up to d².
        contributions = result["contributions"]
        for groups in (contributions["by_class"], contributions["by_filter"]):
            total = sum(g["mean_term"] + g["covariance_term"] for g in groups.values())
            assert total == pytest.approx(result["d2"], rel=1e-9)
            assert sum(g["share_of_d2"] for g in groups.values()) == pytest.approx(1.0)
        assert len(contributions["top_features"]) == 10


def test_statistics_and_ood_screenings_are_listed(server, uploaded):
    with server.client(KEY_A) as c:
        stats_job = c.post("/v1/reference-stats", json={"dataset": uploaded["one"]}).json()
        stats_id = wait_job(c, f"/v1/jobs/{stats_job['id']}")["links"]["result"].rsplit("/", 1)[1]
        stats = c.get("/v1/reference-stats").json()["items"]
        assert [s["id"] for s in stats] == [stats_id]
        assert stats[0]["name"] == "one" and stats[0]["n"] == 4 and stats[0]["version"] == "v1"
        assert stats[0]["dataset"] == {"id": uploaded["one"], "name": "one", "exists": True}
        ood = c.post("/v1/ood", json={"reference": uploaded["one"], "test": uploaded["two"]}).json()
        wait_job(c, f"/v1/jobs/{ood['id']}")
        screened = c.get(f"/v1/ood/{ood['id']}").json()
        item = c.get("/v1/ood").json()["items"][0]
        assert item["id"] == ood["id"] and item["test"]["name"] == "two" and item["assumption"] == "gaussian"
        assert item["result"] == {
            "nfrd": screened["nfrd"],
            "frd": screened["frd"],
            "n_test": 4,
            "n_flagged": screened["n_flagged"],
        }
        assert c.get(f"/v1/ood/{ood['id']}/summary").json() == item
        # A comparison whose reference was deleted still lists, and says so.
        cmp_job = c.post(
            "/v1/comparisons", json={"reference": stats_id, "candidate": uploaded["three"], "report": False}
        ).json()
        wait_job(c, f"/v1/jobs/{cmp_job['id']}")
        assert c.delete(f"/v1/reference-stats/{stats_id}").status_code == 204
        gone = c.get(f"/v1/comparisons/{cmp_job['id']}/summary").json()["reference"]
        assert gone == {"id": stats_id, "name": None, "exists": False}
