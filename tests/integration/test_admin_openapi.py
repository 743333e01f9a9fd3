"""Keeps /admin/openapi.json honest: schemathesis fuzzes every admin operation against
a real kura process; no response may be a 5xx, and every response must match the
document (status code, content type, body schema)."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from proxy.api.openapi import document
from tests.fakes.hub import Hub
from tests.fakes.images import make_image
from tests.integration.conftest import PASSWORD, USER
from tests.support.admin import AUTH, TOKEN
from tests.support.kura import start_kura_process, wait_until_up

schema = schemathesis.openapi.from_dict(document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    with Hub(backend="memory", users={USER: PASSWORD}) as hub:
        hub.push_image(make_image(120, [5_000]), repo="library/fuzz", tag="1")
        env = {"KURA_CACHE_DIR": str(tmp / "cache"), "KURA_UPSTREAMS_DOCKER_IO_URL": hub.url,
               "KURA_UPSTREAM_USERNAME": USER, "KURA_UPSTREAM_PASSWORD": PASSWORD, "KURA_ADMIN_TOKEN": TOKEN}
        process, url = start_kura_process(env, tmp / "kura.log")
        try:
            asyncio.run(wait_until_up(url))
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_served_document_is_the_one_fuzzed(admin_url: str) -> None:
    served = requests.get(admin_url + "/admin/openapi.json", timeout=10)
    assert served.status_code == 200 and served.json() == document()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_admin_api_matches_its_openapi_document(case: schemathesis.Case, admin_url: str) -> None:
    with requests.Session() as session:
        session.post(admin_url + "/admin/warm", json={"image": "fuzz:1"}, headers=AUTH, timeout=10)
        response = case.call(base_url=admin_url, headers=AUTH, session=session, timeout=30)
    case.validate_response(response, checks=CHECKS)
