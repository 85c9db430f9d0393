"""Who a request is: a verified JWT's subject and scopes, or the user a trusted proxy names.
Verification is pure apart from the key source (a fixed secret, or ``jwks.KeySet`` which may
fetch); errors are ``Unauthorized`` with a short reason fit for ``WWW-Authenticate``."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import jwt

from streamsuite_common.auth.settings import AuthSettings


class Unauthorized(Exception):
    """No usable credentials: a 401. ``error`` is RFC 6750's code (empty: none were given)."""

    def __init__(self, description: str, error: str = "invalid_token"):
        super().__init__(description)
        self.description, self.error = description, error


@dataclasses.dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    via: str  # "bearer", "cookie", "proxy" or "anonymous"
    expires: float | None = None  # a token's `exp`

    @property
    def ambient(self) -> bool:
        """Credentials a browser attaches by itself (a cookie, the proxy's session): a
        cross-site page could ride on them, so state-changing requests need an origin check."""
        return self.via in ("cookie", "proxy")


class KeySource(Protocol):
    def key_for(self, token: str) -> Any:
        """The key that verifies ``token`` (by its header's ``kid``); Unauthorized if none."""


@dataclasses.dataclass(frozen=True)
class SharedSecret:
    secret: str

    def key_for(self, token: str) -> Any:
        return self.secret


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (space-separated string) and ``scp`` (list or space-separated string)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(item for item in value if isinstance(item, str))
    return frozenset(found)


class TokenVerifier:
    def __init__(self, settings: AuthSettings, keys: KeySource):
        self._settings, self._keys = settings, keys

    def verify(self, token: str) -> Principal:
        s = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("not a JWT") from None
        if header.get("alg") not in s.effective_algorithms:
            raise Unauthorized(f"algorithm {header.get('alg')!r} is not accepted")
        key = self._keys.key_for(token)
        required = ["exp", "sub"] + (["aud"] if s.audience else []) + (["iss"] if s.issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(s.effective_algorithms),
                audience=s.audience or None,
                issuer=s.issuer or None,
                leeway=s.leeway_s,
                options={"require": required, "verify_aud": bool(s.audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the token is not for this audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        return Principal(str(claims["sub"]), scopes_of(claims), "bearer", float(claims["exp"]))


def trusted_proxy(address: str | None, networks: Iterable[str]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in networks)


def proxy_principal(settings: AuthSettings, headers: Mapping[str, str]) -> Principal | None:
    """The user an authenticating proxy names, with scopes from their groups; None if none.
    Call only for a request from ``AUTH.PROXY_CIDRS`` (``trusted_proxy``)."""
    user = headers.get(settings.proxy_user_header.lower(), "").strip()
    if not user:
        return None
    raw = headers.get(settings.proxy_groups_header.lower(), "")
    groups = {group.strip() for group in raw.split(",") if group.strip()}
    scopes = set()
    if not settings.proxy_read_groups or groups & set(settings.proxy_read_groups):
        scopes.add(settings.read_scope)
    if groups & set(settings.proxy_submit_groups):
        scopes.add(settings.submit_scope)
    return Principal(user, frozenset(scopes), "proxy")


def mint_token(
    secret: str,
    scopes: Iterable[str],
    *,
    subject: str = "dev",
    audience: str = "streamsuite",
    ttl_s: float = 86_400,
    issuer: str = "",
    now: float | None = None,
) -> str:
    """An HS256 token for the local stack and the tests (production tokens come from an IdP)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": issued,
        "exp": issued + int(ttl_s),
        "jti": uuid.uuid4().hex,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
