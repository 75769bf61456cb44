"""Who may talk to one reader's server: whoever holds the random token printed at start.

The first request carries it in the URL (``?token=...``); the answer sets it as an HttpOnly, SameSite=Strict
cookie named for the port (two servers on one host keep separate cookies), which the page's later requests
and its websocket send back. Anything else gets 403. The token is compared in constant time
(``hmac.compare_digest``). This is a lock for a loopback server, not user authentication: a site that serves
readers over the network puts an authenticating reverse proxy in front (README, "Browser panel").
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import TYPE_CHECKING, Awaitable, Callable

from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    from aiohttp import web

TOKEN_PARAMETER = "token"
#: Hosts that mean "this machine only".
LOOPBACK_NAMES = ("localhost",)


def new_token() -> str:
    """32 random bytes, URL-safe (RFC 4648 section 5)."""
    return secrets.token_urlsafe(32)


def cookie_name(port: int) -> str:
    return f"standardseg_token_{port}"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback_or_consent(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless the operator asked for it explicitly."""
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"--host {host}: not a loopback address; the panel shows patient images and anyone who "
                         "gets the URL can use it. Pass --allow-remote to serve on it anyway (behind an "
                         "authenticating reverse proxy, over TLS)")


def token_middleware(token: str, port_of: Callable[[], int]) -> Callable:
    """An aiohttp middleware letting through only requests that carry ``token`` (query or cookie)."""
    from aiohttp import web

    @web.middleware
    async def check_token(request: "web.Request", handler: Callable[["web.Request"], Awaitable["web.StreamResponse"]]):
        name = cookie_name(port_of())
        given = request.query.get(TOKEN_PARAMETER)
        from_query = given is not None and hmac.compare_digest(given, token)
        from_cookie = hmac.compare_digest(request.cookies.get(name, ""), token)
        if not (from_query or from_cookie):
            raise web.HTTPForbidden(text="standardseg: open the URL printed by 'standardseg serve' (it carries the "
                                         "access token)\n")
        response = await handler(request)
        if from_query and not from_cookie and not response.prepared:  # a websocket is already sent
            response.set_cookie(name, token, httponly=True, samesite="Strict", path="/")
        return response

    return check_token
