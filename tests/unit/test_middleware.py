from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.api.middlewares import registry_errors
from proxy.errors import TooManyRequests


async def _serve(handler) -> TestClient:
    app = web.Application(middlewares=[registry_errors])
    app.router.add_get("/boom", handler)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_unhandled_exception_is_a_json_500_without_traceback(caplog) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise ValueError("internal detail /secret/path")

    client = await _serve(boom)
    try:
        response = await client.get("/boom")
        assert response.status == 500
        body = await response.json()
        assert body["errors"][0]["code"] == "UNKNOWN"
        assert "secret" not in str(body) and "Traceback" not in str(body)
        assert "internal detail" in caplog.text  # logged for the operator, not the client
        missing = await client.get("/elsewhere")
        assert missing.status == 404 and (await missing.json())["errors"][0]["code"] == "NOT_FOUND"
    finally:
        await client.close()


async def test_registry_error_carries_its_headers() -> None:
    async def limited(request: web.Request) -> web.Response:
        raise TooManyRequests("slow down", headers={"Retry-After": "42"})

    client = await _serve(limited)
    try:
        response = await client.get("/boom")
        assert response.status == 429 and response.headers["Retry-After"] == "42"
        assert (await response.json())["errors"][0]["code"] == "TOOMANYREQUESTS"
    finally:
        await client.close()
