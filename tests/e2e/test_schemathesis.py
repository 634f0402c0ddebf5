"""schemathesis against /api/openapi.json: no operation answers with a server error.

Per operation of the document: a small seeded school on SQLite, the bearer token of a role the matrix
allows with scope everyone (the headteacher where allowed), so requests reach the handlers; at most 20
generated examples. DELETE /api/session is left out:
it would sign the token out half-way (tests/integration/test_web_actions.py covers it). Nothing may be 5xx.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from casework.config import Config
from casework.context import App
from casework.web.access import ACCESS, PUBLIC
from tests.web_support import School, seed

SKIP = {("DELETE", "/api/session"), ("GET", "/api/openapi.json")}
OPERATIONS = sorted(k for k in ACCESS if k[1].startswith("/api/") and k not in SKIP)


@pytest.fixture
def api_school(tmp_path: Path, config: Config) -> School:
    app = App(db_url=f"sqlite:///{tmp_path / 'casework.db'}", _config=config)
    app.init()
    return seed(app)


def test_every_api_route_is_in_the_openapi_document(api_school: School) -> None:
    document = api_school.client().get("/api/openapi.json").json()
    listed = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert listed == set(OPERATIONS) | {("DELETE", "/api/session")}
    assert "HTTPBearer" in document["components"]["securitySchemes"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_operation_answers_without_server_errors(method: str, path: str, api_school: School) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_school.web)
    operation = schema[path][method]
    allowed = ACCESS[(method, path)]
    headers = {} if allowed is PUBLIC else api_school.bearer(
        "headteacher" if "headteacher" in allowed else sorted(allowed)[0])
    calls = []

    real = {"upn": api_school.pupil.upn, "task_id": api_school.task_id, "case_id": api_school.case_id,
            "meeting_id": api_school.meeting_id}

    def on_real_rows(case: Any) -> Any:  # half the examples aim at rows that exist
        if case.path_parameters:
            case.path_parameters = {k: real.get(k, v) for k, v in case.path_parameters.items()}
        return case

    strategy = operation.as_strategy()

    @given(case=st.one_of(strategy, strategy.map(on_real_rows)))
    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        calls.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert calls, "no example was generated"
