"""A Label Studio token, bound to the address it belongs to.

Label Studio 1.23 has two kinds of token. A *legacy* token is sent as it is
(``Authorization: Token ...``). A *personal access token* is a JWT refresh
token: it is exchanged at ``/api/token/refresh/`` for an access token that
lives about five minutes and is sent as ``Authorization: Bearer ...``.
:class:`Credential` hides the difference, refreshes the access token before
it expires or after a 401, and is never pickled: a token stays in memory.

A credential knows the origin (scheme, host and port) it came with and
answers :meth:`Credential.header_for` only for URLs of that origin, so a
task, a redirect or a ``/setup`` that names another address never receives
it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from urllib.parse import urlsplit

__all__ = ["Credential", "CredentialError", "origin_of"]

#: Refresh an access token this many seconds before it expires.
REFRESH_MARGIN = 30.0

#: Lifetime assumed for an access token whose expiry cannot be read.
DEFAULT_ACCESS_SECONDS = 240.0


class CredentialError(RuntimeError):
    """Label Studio refused to exchange a personal access token."""


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower-cased, with the scheme's default port.

    Raises
    ------
    ValueError
        If ``url`` is not an absolute ``http`` or ``https`` address.
    """
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) address such as http://127.0.0.1:8080, got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


class Credential:
    """A token and the Label Studio address it may be sent to.

    Parameters
    ----------
    url : str
        Label Studio's address, e.g. ``http://127.0.0.1:8080``; the token
        goes to this origin only.
    token : str
        A legacy token or a personal access token (a JWT).
    timeout : float, default=30.0
        Seconds to wait for the token exchange.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        if not isinstance(token, str) or not token:
            raise ValueError("token: expected a Label Studio access token")
        self.url = str(url).rstrip("/")
        self.origin = origin_of(self.url)
        self.timeout = timeout
        self._token = token
        self._access = None
        self._expires = 0.0
        self._lock = threading.Lock()

    @property
    def is_personal(self) -> bool:
        """Whether the token is a personal access token (a JWT: three dot-separated parts)."""
        return self._token.count(".") == 2

    def __repr__(self) -> str:
        kind = "personal access token" if self.is_personal else "legacy token"
        return f"Credential({self.origin!r}, <{kind}>)"

    def __reduce__(self):
        raise TypeError("a Label Studio credential is never saved; pass it again at run time")

    def same_token(self, token) -> bool:
        """Whether ``token`` is this credential's token."""
        return token == self._token

    def header(self) -> str:
        """The ``Authorization`` header's value, refreshing an access token about to expire."""
        if not self.is_personal:
            return f"Token {self._token}"
        with self._lock:
            if self._access is None or time.time() > self._expires - REFRESH_MARGIN:
                self._exchange()
            return f"Bearer {self._access}"

    def header_for(self, url: str) -> dict:
        """``{"Authorization": ...}`` if ``url`` has this credential's origin, else ``{}``."""
        try:
            same = origin_of(url) == self.origin
        except ValueError:
            same = False
        return {"Authorization": self.header()} if same else {}

    def refresh(self) -> None:
        """Drop the access token after a 401, so the next :meth:`header` exchanges anew."""
        with self._lock:
            self._access = None

    def _exchange(self) -> None:
        import requests

        try:
            response = requests.post(
                f"{self.url}/api/token/refresh/",
                json={"refresh": self._token},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise CredentialError(
                f"token: cannot reach {self.origin} to exchange the personal access token "
                f"({type(exc).__name__})"
            ) from None
        access = _json(response).get("access") if response.status_code == 200 else None
        if not isinstance(access, str) or not access:
            raise CredentialError(
                f"token: {self.origin} refused the personal access token (HTTP "
                f"{response.status_code}); create a new one under Account & Settings"
            )
        self._access = access
        self._expires = _expiry(access) or time.time() + DEFAULT_ACCESS_SECONDS


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _expiry(jwt: str) -> float | None:
    """The ``exp`` claim of a JWT (not verified: only to know when to refresh)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None
