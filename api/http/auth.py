"""Sign-in, sign-out and the current user."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser, do_login, do_logout
from api.domain.auth.throttle import LoginThrottle
from api.domain.auth.users import get_user, user_object
from api.domain.core.errors import Unauthorized
from api.http.deps import SESSION_COOKIE, current_user, json_body, services_of
from api.http.openapi import LoginBody, with_body


@post(
    "/api/auth/login",
    status_code=200,
    summary="Sign in with e-mail and password",
    operation_class=with_body(LoginBody),
)
async def login(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    body = await json_body(request)
    services = services_of(request)
    email = body.get("email")
    account = email.strip().lower() if isinstance(email, str) else ""
    address = request.client.host if request.client else "unknown"
    settings = services.settings
    throttle = LoginThrottle(
        services.redis,
        services.bus.prefix,
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window=settings.login_window_seconds,
    )
    await throttle.check(account, address)
    try:
        async with services.db.transaction() as uow:
            token, user = await do_login(
                uow.conn, body.get("email"), body.get("password"), services.settings.token_ttl_hours
            )
    except Unauthorized:
        await throttle.failed(account, address)
        raise
    await throttle.succeeded(account, address)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
        max_age=int(services.settings.token_ttl_hours * 3600),
    )
    payload = {
        "token": token,
        "user": {"user_id": user.user_id, "display_name": user.display_name, "is_admin": user.is_admin},
    }
    return Response(payload, cookies=[cookie], headers={"Cache-Control": "no-store"})


@post(
    "/api/auth/logout",
    status_code=204,
    dependencies={"user": Provide(current_user)},
    summary="Revoke the token",
)
async def logout(request: Request[Any, Any, Any], user: AuthUser, all: bool = False) -> Response[None]:
    services = services_of(request)
    async with services.db.transaction() as uow:
        revoked = await do_logout(uow.conn, user, everywhere=all)

        async def announce() -> None:
            await services.bus.publish_control(
                {"revoked": [d.hex() for d in revoked], "user_id": user.user_id}
            )

        uow.after_commit(announce)
    return Response(
        None,
        status_code=204,
        cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="strict")],
    )


@get("/api/me", dependencies={"user": Provide(current_user)}, summary="The signed-in user")
async def me(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    async with services_of(request).db.read() as conn:
        row = await get_user(conn, user.user_id)
    return (
        user_object(row)
        if row
        else {"user_id": user.user_id, "display_name": user.display_name, "is_admin": user.is_admin}
    )
