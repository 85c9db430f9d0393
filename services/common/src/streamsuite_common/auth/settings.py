"""The AUTH section shared by the query API and the web UI: who may read and who may submit.

Modes (``AUTH.MODE``):

- ``jwt`` (the default): every request carries a JWT as ``Authorization: Bearer <token>`` (the
  web UI also takes it from a cookie set by its sign-in page), verified against a shared secret
  (HS256, ``AUTH.JWT_SECRET``) or an OIDC issuer's published keys (RS256/ES256, ``AUTH.ISSUER``
  discovery or ``AUTH.JWKS_URL``); signature, ``exp``, ``nbf``, ``aud`` and (when set) ``iss``
  are checked. Scopes come from the ``scope`` claim (space-separated, OAuth 2.0) and the ``scp``
  claim (a list or a space-separated string, as Okta and Entra ID issue them).
- ``proxy``: behind an authenticating proxy (oauth2-proxy): a request from an address in
  ``AUTH.PROXY_CIDRS`` carrying ``X-Forwarded-User`` is that user; their groups
  (``X-Forwarded-Groups``, comma-separated) decide read and submit. Bearer tokens are taken too
  when keys are configured.
- ``none``: no authentication (every caller reads; the web UI's Submit stays off unless
  ``WEB.SUBMIT_WITHOUT_AUTH`` says otherwise).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, ClassVar

from streamsuite_common.config import (
    ConfigError,
    as_int,
    as_seconds,
    as_str,
    one_of,
    setting,
)

MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")


def as_word_list(value: Any) -> tuple[str, ...]:
    """``a,b c`` (or a YAML list) into a tuple of words."""
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
    return tuple(str(item).strip() for item in items if str(item).strip())


def as_networks(value: Any) -> tuple[str, ...]:
    """CIDRs (``10.0.0.0/8,127.0.0.1/32``) checked and normalized; may be empty."""
    networks = []
    for item in as_word_list(value):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR such as 10.0.0.0/8") from None
    return tuple(networks)


def as_algorithms(value: Any) -> tuple[str, ...]:
    names = tuple(name.upper() for name in as_word_list(value))
    for name in names:
        if name != "HS256" and name not in ASYMMETRIC:
            raise ValueError(f"{name!r} is not one of HS256, {', '.join(ASYMMETRIC)}")
    return names


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthSettings:
    SECTION: ClassVar[str] = "AUTH"

    mode: str = setting(
        "MODE",
        "jwt",
        parse=one_of("jwt", "proxy", "none"),
        help="`jwt`: bearer tokens (HS256 secret or OIDC issuer keys); `proxy`: the user named "
        "by a trusted authenticating proxy (and bearer tokens when keys are set); `none`: no "
        "authentication (say so explicitly; the web UI's Submit stays off).",
    )
    jwt_secret: str = setting(
        "JWT_SECRET",
        "",
        secret=True,
        help="Shared HS256 secret (32 bytes or more) tokens are signed with, as PostgREST's "
        "`jwt-secret`. Either this or `AUTH.ISSUER`/`AUTH.JWKS_URL`.",
    )
    issuer: str = setting(
        "ISSUER",
        "",
        parse=as_str,
        help="OIDC issuer URL: tokens must carry it as `iss`; its keys are found through "
        "`<ISSUER>/.well-known/openid-configuration` unless `AUTH.JWKS_URL` is set.",
    )
    jwks_url: str = setting(
        "JWKS_URL",
        "",
        parse=as_str,
        help="URL of the issuer's JSON Web Key Set (RS256/ES256 keys); cached, fetched again "
        "after `AUTH.JWKS_CACHE_S` or for an unknown `kid` (at most every "
        "`AUTH.JWKS_MIN_REFRESH_S`).",
    )
    audience: str = setting(
        "AUDIENCE",
        "streamsuite",
        parse=as_str,
        help="Value tokens must carry in `aud`. Empty: tokens must carry no `aud` at all.",
    )
    algorithms: tuple[str, ...] = setting(
        "ALGORITHMS",
        (),
        parse=as_algorithms,
        help="Accepted signature algorithms. Empty: `HS256` with `AUTH.JWT_SECRET`, else "
        "`RS256,ES256`.",
    )
    leeway_s: float = setting(
        "LEEWAY_S",
        30.0,
        parse=as_seconds(0, 600),
        help="Clock skew allowed on `exp`, `nbf` and `iat`.",
    )
    jwks_cache_s: float = setting(
        "JWKS_CACHE_S",
        600.0,
        parse=as_seconds(10, 86_400),
        help="How long fetched issuer keys are used before they are fetched again.",
    )
    jwks_min_refresh_s: float = setting(
        "JWKS_MIN_REFRESH_S",
        30.0,
        parse=as_seconds(0, 3600),
        help="Least time between two key fetches, so tokens with made-up `kid`s cannot make "
        "the service hammer the issuer.",
    )
    read_scope: str = setting(
        "READ_SCOPE", "read", parse=as_str, help="Scope that allows reading (every API call)."
    )
    submit_scope: str = setting(
        "SUBMIT_SCOPE",
        "submit",
        parse=as_str,
        help="Scope that allows publishing through the web UI's Submit page (it does not "
        "imply read).",
    )
    cookie_name: str = setting(
        "COOKIE_NAME",
        "streamsuite_token",
        parse=as_str,
        help="Web UI: cookie its sign-in page (`/login`) keeps the token in (HttpOnly, "
        "SameSite=Strict).",
    )
    proxy_cidrs: tuple[str, ...] = setting(
        "PROXY_CIDRS",
        (),
        parse=as_networks,
        help="`proxy` mode: addresses of the authenticating proxy (CIDRs, comma-separated); "
        "identity headers from any other address are ignored.",
    )
    proxy_user_header: str = setting(
        "PROXY_USER_HEADER",
        "X-Forwarded-User",
        parse=as_str,
        help="`proxy` mode: header naming the signed-in user (oauth2-proxy "
        "`--pass-user-headers`/`--set-xauthrequest`).",
    )
    proxy_groups_header: str = setting(
        "PROXY_GROUPS_HEADER",
        "X-Forwarded-Groups",
        parse=as_str,
        help="`proxy` mode: header listing the user's groups, comma-separated.",
    )
    proxy_read_groups: tuple[str, ...] = setting(
        "PROXY_READ_GROUPS",
        (),
        parse=as_word_list,
        help="`proxy` mode: groups that may read. Empty: every user the proxy lets through.",
    )
    proxy_submit_groups: tuple[str, ...] = setting(
        "PROXY_SUBMIT_GROUPS",
        (),
        parse=as_word_list,
        help="`proxy` mode: groups that may submit. Empty: nobody submits through the proxy.",
    )

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @property
    def has_keys(self) -> bool:
        return bool(self.jwt_secret or self.jwks_url or self.issuer)

    @property
    def effective_algorithms(self) -> tuple[str, ...]:
        if self.algorithms:
            return self.algorithms
        return ("HS256",) if self.jwt_secret else ("RS256", "ES256")

    def check(self) -> None:
        if self.mode == "jwt" and not self.has_keys:
            raise ConfigError(
                "AUTH.JWT_SECRET: required when AUTH.MODE is jwt (or set AUTH.ISSUER / "
                "AUTH.JWKS_URL; AUTH.MODE=none switches authentication off)"
            )
        if self.jwt_secret and self.jwks_url:
            raise ConfigError("AUTH.JWT_SECRET: set either it or AUTH.JWKS_URL, not both")
        if self.jwt_secret and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"AUTH.JWT_SECRET: must be {MIN_SECRET_BYTES} bytes or longer")
        if self.jwt_secret and set(self.effective_algorithms) != {"HS256"}:
            raise ConfigError("AUTH.ALGORITHMS: only HS256 goes with AUTH.JWT_SECRET")
        if not self.jwt_secret and "HS256" in self.effective_algorithms:
            raise ConfigError("AUTH.ALGORITHMS: HS256 needs AUTH.JWT_SECRET")
        if self.mode == "proxy" and not self.proxy_cidrs:
            raise ConfigError("AUTH.PROXY_CIDRS: required when AUTH.MODE is proxy")
        for name in ("read_scope", "submit_scope", "cookie_name"):
            if not getattr(self, name):
                raise ConfigError(f"AUTH.{name.upper()}: must not be empty")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LimitSettings:
    SECTION: ClassVar[str] = "LIMITS"

    rate_per_s: float = setting(
        "RATE_PER_S",
        50.0,
        parse=as_seconds(0.1, 100_000),
        help="Requests per second one client (token subject, proxy user, or address) may "
        "make on average; more are answered 429 with `Retry-After`.",
    )
    burst: int = setting(
        "BURST",
        100,
        parse=as_int(1, 1_000_000),
        help="Requests one client may make at once above the rate.",
    )
    concurrency: int = setting(
        "CONCURRENCY",
        16,
        parse=as_int(1, 10_000),
        help="Requests one client may have in flight (live streams are counted separately).",
    )
    scan_concurrency: int = setting(
        "SCAN_CONCURRENCY",
        2,
        parse=as_int(1, 10_000),
        help="Requests with a filter that may scan (`jsonpath`, `has_key`) one client may have "
        "in flight.",
    )
