"""Token verification, scopes, the trusted proxy and the AUTH settings' checks (pure)."""

from __future__ import annotations

import time

import pytest

from streamsuite_common.auth import AuthSettings, mint_token
from streamsuite_common.auth.settings import as_networks
from streamsuite_common.auth.tokens import (
    SharedSecret,
    TokenVerifier,
    Unauthorized,
    proxy_principal,
    scopes_of,
    trusted_proxy,
)
from streamsuite_common.config import ConfigError, load_section

SECRET = "0123456789abcdef0123456789abcdef"


def verifier(**overrides) -> TokenVerifier:
    settings = AuthSettings(**{"jwt_secret": SECRET, **overrides})
    return TokenVerifier(settings, SharedSecret(SECRET))


def test_a_valid_token_gives_its_subject_and_scopes():
    principal = verifier().verify(mint_token(SECRET, ["read", "submit"], subject="ada"))
    assert (principal.subject, principal.scopes, principal.via) == (
        "ada", frozenset({"read", "submit"}), "bearer",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "read submit"}, {"read", "submit"}),
        ({"scp": ["read"]}, {"read"}),
        ({"scp": "read submit"}, {"read", "submit"}),
        ({"scope": "read", "scp": ["submit", 3]}, {"read", "submit"}),
        ({"roles": ["read"]}, set()),  # roles are not scopes
        ({"scope": 7}, set()),
    ],
)
def test_scopes_come_from_scope_and_scp(claims, scopes):
    assert scopes_of(claims) == scopes


def test_leeway_and_issuer():
    past = time.time() - 3600 - 10
    assert verifier(leeway_s=30).verify(mint_token(SECRET, ["read"], now=past, ttl_s=3600))
    with pytest.raises(Unauthorized, match="expired"):
        verifier(leeway_s=0).verify(mint_token(SECRET, ["read"], now=past, ttl_s=3600))
    issued = mint_token(SECRET, ["read"], issuer="https://idp.example")
    assert verifier(issuer="https://idp.example").verify(issued)
    with pytest.raises(Unauthorized, match="another issuer"):
        verifier(issuer="https://other.example").verify(issued)
    with pytest.raises(Unauthorized, match="no 'iss'"):
        verifier(issuer="https://idp.example").verify(mint_token(SECRET, ["read"]))


def test_an_asymmetric_algorithm_is_refused_with_a_shared_secret():
    # Algorithm confusion: a token claiming RS256 must not be checked against the secret.
    token = mint_token(SECRET, ["read"]).split(".")
    token[0] = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"RS256","typ":"JWT"}
    with pytest.raises(Unauthorized, match="'RS256' is not accepted"):
        verifier().verify(".".join(token))


def test_the_proxy_is_trusted_only_from_its_networks():
    networks = as_networks("10.0.0.0/8, 127.0.0.1")
    assert networks == ("10.0.0.0/8", "127.0.0.1/32")
    assert trusted_proxy("10.1.2.3", networks)
    assert not trusted_proxy("192.168.1.1", networks)
    assert not trusted_proxy(None, networks)
    assert not trusted_proxy("not-an-ip", networks)
    with pytest.raises(ValueError, match="is not an address or CIDR"):
        as_networks("10.0.0.0/33")


def test_proxy_groups_decide_the_scopes():
    settings = AuthSettings(mode="proxy", proxy_cidrs=("10.0.0.0/8",),
                            proxy_submit_groups=("publishers",))  # fmt: skip
    user = proxy_principal(settings, {"x-forwarded-user": "ada", "x-forwarded-groups": "a, b"})
    assert (user.subject, user.scopes, user.ambient) == ("ada", frozenset({"read"}), True)
    publisher = proxy_principal(settings, {"x-forwarded-user": "bo",
                                           "x-forwarded-groups": "x,publishers"})  # fmt: skip
    assert publisher.scopes == frozenset({"read", "submit"})
    assert proxy_principal(settings, {"x-forwarded-email": "ada@example.com"}) is None
    readers_only = AuthSettings(mode="proxy", proxy_cidrs=("10.0.0.0/8",),
                                proxy_read_groups=("readers",))  # fmt: skip
    assert proxy_principal(readers_only, {"x-forwarded-user": "eve"}).scopes == frozenset()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "AUTH.JWT_SECRET: required when AUTH.MODE is jwt"),
        ({"JWT_SECRET": "short"}, "AUTH.JWT_SECRET: must be 32 bytes or longer"),
        ({"JWT_SECRET": SECRET, "JWKS_URL": "https://x/jwks"}, "either it or AUTH.JWKS_URL"),
        ({"JWT_SECRET": SECRET, "ALGORITHMS": "RS256"}, "only HS256 goes with"),
        ({"JWKS_URL": "https://x/jwks", "ALGORITHMS": "HS256"}, "HS256 needs AUTH.JWT_SECRET"),
        ({"ISSUER": "https://x", "ALGORITHMS": "none"}, "AUTH.ALGORITHMS: 'NONE' is not one"),
        ({"MODE": "proxy"}, "AUTH.PROXY_CIDRS: required when AUTH.MODE is proxy"),
        ({"MODE": "off"}, "AUTH.MODE: must be one of jwt, proxy, none"),
    ],
)
def test_bad_auth_settings_name_the_key(values, message):
    with pytest.raises(ConfigError) as caught:
        load_section(AuthSettings, {"AUTH": values}, {})
    assert message in str(caught.value)


def test_modes_that_load():
    assert load_section(AuthSettings, {"AUTH": {"MODE": "none"}}, {}).enabled is False
    oidc = load_section(AuthSettings, {"AUTH": {"ISSUER": "https://idp.example"}}, {})
    assert oidc.effective_algorithms == ("RS256", "ES256")
    proxy = load_section(
        AuthSettings,
        {},
        {"STREAMSUITE_AUTH__MODE": "proxy", "STREAMSUITE_AUTH__PROXY_CIDRS": "10.0.0.0/8"},
    )
    assert proxy.mode == "proxy"
    assert not proxy.has_keys
