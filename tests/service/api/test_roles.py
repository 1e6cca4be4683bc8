"""Route by role: every route of the application has a rule in ``api/roles.py``,
and no route that needs a session answers without one, with a damaged or
expired one, or with a session of a role it does not admit.

The cases are built from the application's own routes, so a route added
without a rule fails here."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testimony.crypto import hpke
from testimony.service.api.roles import ROUTE_ROLES
from testimony.service.domain.clock import FixedClock
from testimony.service.domain.reviewers import ROLES_ADMITTED
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from tests.reviewers_support import Org, Person, enrol, found, login
from tests.service.intake_support import VECTOR, TestClient, assert_problem

VALUES = {
    "form_id": "kordai-2020",
    "version": "1",
    "upload_id": "a" * 20,
    "blob_id": "ab" * 32,
    "lang": "en",
    "name": "x.js",
}


def _routes(routes: Any) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def app_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in _routes(app.routes)
        for method in getattr(route, "methods", None) or ()
    }


@pytest.fixture
def org(tmp_path: Path, clock: FixedClock) -> Iterator[Org]:
    from testimony.service.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", pow_bits=0, clock=clock)
    public = hpke.public_key(bytes.fromhex(VECTOR["intake_seed"]))
    result = init_data_dir(settings, public, origin="test.invalid/log")
    with TestClient(create_app(settings)) as client:
        yield Org(client, result.setup_token, clock)


def test_every_route_has_exactly_one_rule(org: Org) -> None:
    routes = app_routes(org.client.app)
    assert routes, "no routes found: the walk of the application's routes is broken"
    assert routes - ROUTE_ROLES.keys() == set(), "routes without a rule in api/roles.py"
    assert ROUTE_ROLES.keys() - routes == set(), "rules for routes that do not exist"


def _url(path: str) -> str:
    url = re.sub(r"\{([^}]+)\}", lambda m: VALUES[m.group(1)], path)
    if path == "/api/v1/entries":
        url += "?index=1"
    if path == "/api/v1/blobs/{blob_id}":
        url += "?subject=" + "cd" * 32
    return url


def _session_routes() -> list[tuple[str, str, str]]:
    return sorted(
        (method, path, role)
        for (method, path), role in ROUTE_ROLES.items()
        if role in ROLES_ADMITTED
    )


def test_no_session_route_answers_without_a_valid_session(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    token = login(org.client, admin)
    damaged = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    routes = _session_routes()
    assert {role for _m, _p, role in routes} >= {"reader", "reviewer"}
    for method, path, _role in routes:
        url = _url(path)
        assert_problem(org.client.request(method, url), 401, "session-required")
        for header in (f"Bearer {damaged}", "Bearer", "Basic abc", f"Bearer {token}x"):
            answer = org.client.request(method, url, headers={"Authorization": header})
            assert answer.status_code == 401, (method, path, header, answer.text)
    org.clock.advance(timedelta(minutes=15, seconds=1))
    for method, path, _role in routes:
        answer = org.client.request(
            method, _url(path), headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(answer, 401, "session-invalid")


def test_each_session_route_admits_only_its_roles(org: Org) -> None:
    admin = Person.new()
    assert found(org, admin).status_code == 201
    admin_token = login(org.client, admin)
    people = {
        "admin": admin,
        "reviewer": enrol(org, admin, admin_token, role="reviewer"),
        "auditor": enrol(org, admin, admin_token, role="auditor"),
    }
    tokens = {role: login(org.client, person) for role, person in people.items()}
    for method, path, required in _session_routes():
        for role, token in tokens.items():
            answer = org.client.request(
                method, _url(path), headers={"Authorization": f"Bearer {token}"}, json={}
            )
            if role in ROLES_ADMITTED[required]:
                # Past the role: any answer but a session's or a role's refusal.
                assert answer.status_code != 401, (method, path, role, answer.text)
                assert answer.json().get("code") not in ("role-forbidden", "no-standing")
            else:
                assert_problem(answer, 403, "role-forbidden")


def test_anonymous_routes_ignore_a_bearer_token(org: Org) -> None:
    garbage = {"Authorization": "Bearer " + os.urandom(8).hex()}
    for (method, path), role in ROUTE_ROLES.items():
        if role != "anonymous" or method != "GET" or "{" in path:
            continue
        answer = org.client.request(method, path, headers=garbage)
        assert answer.status_code not in (401, 403), (path, answer.text)
