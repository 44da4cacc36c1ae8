"""The PWA is served with the right types, and client routes fall back to index.html."""

from __future__ import annotations

import pytest

from api.app import WEB_DIR
from tests.support.clients import Api

pytestmark = pytest.mark.skipif(
    not (WEB_DIR / "index.html").exists(), reason="web client not built (npm run build)"
)


async def test_index_assets_and_client_routes(api: Api) -> None:
    index = await api.http.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assets = [p for p in (WEB_DIR / "assets").iterdir() if p.suffix in (".js", ".css")]
    assert assets
    for asset in assets:
        r = await api.http.get(f"/assets/{asset.name}")
        expected = "text/javascript" if asset.suffix == ".js" else "text/css"
        assert r.status_code == 200 and r.headers["content-type"].startswith(expected), asset.name
        assert "immutable" in r.headers["cache-control"]
    sw = await api.http.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    manifest = await api.http.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith(
        "application/manifest+json"
    )
    route = await api.http.get("/rooms/some-room")
    assert route.status_code == 200 and route.text == index.text
    assert (await api.http.get("/api/nope")).status_code == 404
    assert (await api.http.get("/../../etc/passwd")).status_code in (200, 404)
    assert "root:" not in (await api.http.get("/..%2f..%2fetc/passwd")).text


async def test_pages_carry_a_strict_content_security_policy(api: Api) -> None:
    for path in ("/", "/rooms/some-room", "/sw.js"):
        r = await api.http.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
    index = (await api.http.get("/")).text
    assert "<script>" not in index and "style=" not in index, "the policy allows no inline code"
