"""Script APIs over HTTP: apply with who changed it, history, delete, a real sandboxed test run,
and the original system's errors (`API definition not found` 404, `API is not a script type` 400)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

pytestmark = pytest.mark.integration

SOURCE = '''
import logging
def main(params, input, context):
    print("hello", input["host"])
    logging.getLogger("t").info("by %s", context["executed_by"])
    return {"ticket": "INC-" + input["host"], "p": params["p"]}
'''


def _api(name: str, **extra) -> dict:
    return {"name": name, "type": "script", "language": "python", "timeout": "5s", "source": SOURCE, **extra}


def test_apply_history_and_delete_record_the_caller(api: Api, unique: str):
    name = f"inc-{unique}"
    created = api.put("/script-apis", json=_api(name))
    assert created.status_code == 200, created.text
    assert (created.json()["version"], created.json()["timeout_ms"]) == (1, 5000)
    api.put("/script-apis", json=_api(name, memory_mb=128))
    assert api.get(f"/script-apis/{name}").json()["spec"]["memory_mb"] == 128
    assert name in [a["name"] for a in api.get("/script-apis").json()]
    assert api.delete(f"/script-apis/{name}").status_code == 200
    assert api.get(f"/script-apis/{name}").status_code == 404
    history = api.get(f"/script-apis/{name}/history").json()
    assert [(h["version"], h["action"], h["changed_by"]) for h in history] == [
        (1, "create", api.names["admin"]), (2, "update", api.names["admin"]), (3, "delete", api.names["admin"])]


def test_a_test_run_returns_output_and_logs(api: Api, unique: str):
    name = f"run-{unique}"
    api.put("/script-apis", json=_api(name))
    answer = api.post(f"/script-apis/{name}/test", json={"params": {"p": 2}, "input": {"host": "db-1"}})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["output"] == {"ticket": "INC-db-1", "p": 2} and result["error"] is None
    assert result["logs"] == ["hello db-1", f"INFO t: by {api.names['admin']}"]
    assert (result["references"]["name"], result["references"]["exit_status"]) == (name, "ok")


def test_errors_are_the_original_systems(api: Api, unique: str):
    missing = api.post("/script-apis/nope/test", json={})
    assert missing.status_code == 404 and missing.json()["detail"] == "API definition not found"
    assert api.get("/script-apis/nope").json()["detail"] == "API definition not found"
    assert api.put("/script-apis", json={"name": f"rest-{unique}", "type": "rest", "source": "GET /"}).status_code == 200
    wrong = api.post(f"/script-apis/rest-{unique}/test", json={})
    assert wrong.status_code == 400 and wrong.json()["detail"] == "API is not a script type"


def test_bad_documents_are_400s_naming_the_field(api: Api, unique: str):
    tiny = api.put("/script-apis", json=_api(f"x-{unique}", memory_mb=8))
    assert tiny.status_code == 400 and tiny.json()["errors"][0]["field"] == "memory_mb"
    no_main = api.put("/script-apis", json=_api(f"x-{unique}", source="x = 1"))
    assert no_main.status_code == 400 and "main(params, input, context)" in no_main.json()["detail"]
    no_name = api.put("/script-apis", json={"source": "x"})
    assert no_name.status_code == 400 and no_name.json()["errors"][0]["field"] == "name"
    api.put("/script-apis", json=_api(f"y-{unique}"))
    bad_params = api.post(f"/script-apis/y-{unique}/test", json={"params": [1]})
    assert bad_params.status_code == 400 and bad_params.json()["errors"][0]["field"] == "params"
    assert api.get(f"/script-apis/x-{unique}").status_code == 404
