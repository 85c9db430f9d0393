import pytest

from streamsuite_common.config import ConfigError
from streamsuite_web.config import load_tree
from streamsuite_web.origins import allowed, as_origin_list, normalize

DB = {
    "DATABASE": {"HOST": "db", "DBNAME": "streamsuite", "DBUSER": "streamsuite_reader"},
    "AUTH": {"MODE": "none"},
}


def test_origins_are_normalized_with_their_default_port():
    assert normalize("HTTPS://UI.Example.com") == "https://ui.example.com:443"
    assert normalize("http://[::1]:8080/") == "http://[::1]:8080"
    for bad in ("ui.example.com", "ftp://ui.example.com", "http://u@ui.example.com",
                "http://ui.example.com/app", "http://ui.example.com:99999", "null"):  # fmt: skip
        assert normalize(bad) is None, bad


def test_only_listed_origins_are_allowed():
    origins = as_origin_list("https://ui.example.com, http://127.0.0.1:8080")
    assert allowed("https://ui.example.com:443", origins)
    assert allowed("http://127.0.0.1:8080", origins)
    assert allowed(None, origins)
    assert not allowed("https://127.0.0.1:8080", origins)
    assert not allowed("http://ui.example.com", origins)
    assert not allowed("null", origins)


def test_public_origins_default_to_the_local_port_and_refuse_non_origins():
    cfg = load_tree({**DB, "WEB": {"SUBMIT_ENABLED": False}, "HTTP": {"PORT": 9080}}, {})
    assert cfg.public_origins == (
        "http://127.0.0.1:9080", "http://localhost:9080", "http://[::1]:9080",
    )  # fmt: skip
    env = {"STREAMSUITE_WEB__PUBLIC_ORIGINS": "https://ui.example.com"}
    assert load_tree({**DB, "WEB": {"SUBMIT_ENABLED": False}}, env).public_origins == (
        "https://ui.example.com:443",
    )
    with pytest.raises(ConfigError, match=r"WEB\.PUBLIC_ORIGINS: 'ui\.example\.com' is not"):
        load_tree({**DB, "WEB": {"SUBMIT_ENABLED": False, "PUBLIC_ORIGINS": "ui.example.com"}}, {})
