"""Property tests of the admin API against its own OpenAPI document, with schemathesis.

The document is the one the app serves (``/api/admin/v1/openapi.json``); every operation in it is
called with generated requests, valid ones and deliberately invalid ones, through Starlette's
test client on the real app and database, with a write token made by the token service, with a
read token, and with none. For every response:

- it is never a 5xx (``not_a_server_error``);
- its status code is one the document lists for the operation (``status_code_conformance``);
- its content type is the one the document lists for that status (``content_type_conformance``);
- its body matches the documented schema (``response_schema_conformance``);
- documented response headers are present and well-formed (``response_headers_conformance``).

Relaxed, because the document cannot express it: schemathesis's ``negative_data_rejection`` /
``positive_data_acceptance`` are not run, since whether a valid-looking body is accepted depends
on the database's state (resolving an already resolved incident is a documented 409; an id that
does not exist is a documented 404), and some refusals are business rules no JSON Schema states
(a maintenance window that ends before it starts). A 405 for a method a path does not have and a
503 for an unreachable database are deliberately undocumented; neither is generated here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.runtime import Runtime
from statuspage.tokens import service as tokens
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Requests per operation, by token, generation mode and backend: the whole file stays under ~25 s
# on SQLite and PostgreSQL together
# (each run draws the same requests: derandomize=True). PostgreSQL gets fewer, but the same edge values (ids past
# 32 bits, which only PostgreSQL refuses) are in PATH_VALUES for both.
EXAMPLES = {
    ("write", GenerationMode.POSITIVE): {"sqlite": 9, "postgresql": 4},
    ("write", GenerationMode.NEGATIVE): {"sqlite": 5, "postgresql": 2},
    # Refusals without a usable token do not touch the database: SQLite is enough for them.
    ("read", GenerationMode.POSITIVE): {"sqlite": 3, "postgresql": 0},
    ("anonymous", GenerationMode.POSITIVE): {"sqlite": 3, "postgresql": 0},
}
BASE_URL = "http://testserver"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    # raise_server_exceptions=False: an unhandled exception must show as the 500 a client would
    # see, so that the check reports the request that caused it.
    with TestClient(create_app(runtime.settings, runtime.engine), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def secrets(make_ctx: Callable[..., WriteContext]) -> dict[str, str]:
    made = {}
    for scope in ("write", "read"):
        _, made[scope] = tokens.create_token(ctx=make_ctx("root"), name=f"fuzz-{scope}", scope=scope)
    return made


@pytest.fixture
def seeded(client: TestClient, secrets: dict[str, str]) -> None:
    """An open incident (1), a resolved one (2), a maintenance (1) and an action item (1), so
    that generated ids hit real rows and not only 404s."""
    auth = {"authorization": f"Bearer {secrets['write']}"}
    for title in ("Checkout failing", "Slow pages"):
        response = client.post(f"{PREFIX}/incidents", json={"severity": 2, "title": title, "components": ["api"]}, headers=auth)
        assert response.status_code == 201, response.text
    assert client.post(f"{PREFIX}/incidents/2/resolve", headers=auth).status_code == 200
    window = {"title": "Upgrade", "components": ["api"], "scheduled_for": "2030-01-01T10:00:00Z", "scheduled_until": "2030-01-01T11:00:00Z"}
    response = client.post(f"{PREFIX}/maintenances", json=window, headers=auth)
    assert response.status_code == 201, response.text
    action = {"title": "Alert on expiry", "owner": "bob", "due": "2026-12-15"}
    response = client.post(f"{PREFIX}/incidents/2/actions", json=action, headers=auth)
    assert response.status_code == 201, response.text


# Generated text is mostly control characters and unknown component ids, which the API rightly
# refuses (422) before doing anything; to reach the code behind validation, positive cases get
# some fields replaced with values that pass it, most of the time, and ids in the path are
# drawn from real, edge and wrong ones.
KNOWN_COMPONENTS = ["api", "web", "checkout", "auth", "phone-support"]
TEXT_FIELDS = {"title", "message", "commander", "to", "by", "root_cause", "remediation", "reason", "owner", "detection_gap", "response_gap"}
PATH_VALUES = {
    "incident_id": ["1", "2", "1", "2", "3", "0", "-1", "007", "2147483648", "1e3", "١", "%00"],
    "maintenance_id": ["1", "1", "2", "0", "99999999999999999999", "١"],
    "component_id": [*KNOWN_COMPONENTS, "API", "nope", "a" * 65],
    "action_id": ["1", "1", "2", "0", "-1", "2147483648", "١", "x"],
}
MONTHS = st.sampled_from(["2026-11", "2026-10", "1970-01", "8999-12", "2026-13", "0000-00"])
HOSTILE_TEXT = st.sampled_from(
    ["<script>alert(1)</script>", "Zoë \u202eevil", "<!channel> & <@U123>", "]]>", "x" * 200, "{{ 7*7 }}", "a"]
)


def _steer(case: Any, data: st.DataObject) -> None:
    for name, values in PATH_VALUES.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = data.draw(st.sampled_from(values))
    if isinstance(case.query, dict) and "month" in case.query:
        case.query["month"] = data.draw(MONTHS)
    body = case.body
    if not isinstance(body, dict) or data.draw(st.integers(0, 3)) == 0:
        return
    for key in list(body):
        if key in TEXT_FIELDS and isinstance(body[key], str):
            body[key] = data.draw(HOSTILE_TEXT)
        elif key == "components":
            ids = data.draw(st.lists(st.sampled_from(KNOWN_COMPONENTS), min_size=1, max_size=3, unique=True))
            if isinstance(body[key], dict):
                statuses = [None, "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
                body[key] = {i: data.draw(st.sampled_from(statuses)) for i in ids}
            else:
                body[key] = ids
    if isinstance(body.get("month"), str):
        body["month"] = data.draw(MONTHS)
    if isinstance(body.get("due"), str):
        body["due"] = data.draw(st.sampled_from(["2026-12-15", "2001-02-03", "soon", "2026-02-30"]))
    if "scheduled_for" in body or "scheduled_until" in body:
        start = data.draw(st.integers(0, 48))
        body["scheduled_for"] = f"2030-01-01T{start % 24:02d}:00:00Z"
        body["scheduled_until"] = f"2030-01-0{2 + start // 24}T{start % 24:02d}:30:00+01:00"


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    sent = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
    if headers:
        sent.update(headers)  # the real token, never the one generated from the security scheme
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content"] = data if isinstance(data, bytes) else str(data).encode()
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=sent, **body)


def test_admin_api_conforms_to_its_openapi_document(
    client: TestClient, runtime: Runtime, secrets: dict[str, str], seeded: None
) -> None:
    """One test per backend for the three callers, so the database is made once."""
    document = client.get(f"{PREFIX}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    failures: list[str] = []
    for who in ("write", "read", "anonymous"):
        headers = {} if who == "anonymous" else {"authorization": f"Bearer {secrets[who]}"}
        failures += _fuzz(client, runtime, operations, who, headers)
    assert not failures, "\n".join(dict.fromkeys(failures))


def _fuzz(client: TestClient, runtime: Runtime, operations: list[Any], who: str, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    backend = "postgresql" if runtime.settings.database_url.startswith("postgresql") else "sqlite"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if not EXAMPLES.get((who, mode), {}).get(backend):
                continue  # without a write token, requests are refused before the body is read
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES[who, mode][backend],
                deadline=None,
                database=None,
                derandomize=True,  # the same requests on every run, so CI cannot flake
                phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported as is
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, data=st.data())
            def run(case: Any, data: st.DataObject) -> None:
                if mode is GenerationMode.POSITIVE:  # noqa: B023 - run() is called inside the loop
                    _steer(case, data)
                response = _send(client, case, headers)
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except AssertionError as exc:  # schemathesis's failure groups are AssertionErrors
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    failures.append(
                        f"{operation.label} [{mode.value}] {response.status_code}: {first} "  # noqa: B023
                        f"-- {case.as_curl_command(headers=headers)} -> {response.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid: an operation without parameters or body
    return failures
