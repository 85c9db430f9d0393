"""The web UI's config: defaults, the optional KAFKA section, one-line errors."""

from __future__ import annotations

import pytest

from streamsuite_common.auth import AuthSettings, LimitSettings
from streamsuite_common.config import ConfigError
from streamsuite_web.config import DEFAULTS, SECTIONS, WebSettings, load_tree

DB = {
    "DATABASE": {"HOST": "db", "DBNAME": "streamsuite", "DBUSER": "streamsuite_reader"},
    "AUTH": {"JWT_SECRET": "s" * 32},
}
KAFKA = {"KAFKA": {"BOOTSTRAP_SERVERS": "kafka:9092"}}


def test_defaults_port_8080_submit_on_and_exported_for_the_docs():
    cfg = load_tree({**DB, **KAFKA}, {})
    assert cfg.http.port == 8080
    assert DEFAULTS["HTTP"]["PORT"] == 8080
    assert cfg.submit_enabled
    assert cfg.web.page_size == 50
    assert cfg.cursor_secret
    assert (WebSettings, AuthSettings, LimitSettings) == SECTIONS
    assert cfg.auth.mode == "jwt"
    assert cfg.web.effective_transactional_id.startswith("streamsuite-web-")


def test_submit_on_needs_kafka_and_says_which_key():
    with pytest.raises(ConfigError, match=r"^KAFKA.BOOTSTRAP_SERVERS: missing"):
        load_tree(DB, {})


def test_submit_off_needs_no_kafka():
    cfg = load_tree(DB, {"STREAMSUITE_WEB__SUBMIT_ENABLED": "false"})
    assert cfg.kafka is None
    assert not cfg.submit_enabled


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"WEB": {"PAGE_SIZE": 0}}, "WEB.PAGE_SIZE: must be between 1 and 1000"),
        ({"WEB": {"SUBMIT_ENABLED": "maybe"}}, "WEB.SUBMIT_ENABLED: expected true or false"),
        ({"WEB": {"PAGESIZE": 5}}, r"WEB.PAGESIZE: unknown key \(did you mean PAGE_SIZE\?\)"),
    ],
)
def test_bad_settings_name_the_key(tree, message):
    with pytest.raises(ConfigError, match=message):
        load_tree({**DB, **KAFKA, **tree}, {})


def test_authentication_is_on_unless_switched_off():
    plain = {"DATABASE": DB["DATABASE"], **KAFKA}
    with pytest.raises(ConfigError, match=r"^AUTH\.JWT_SECRET: required when AUTH\.MODE is jwt"):
        load_tree(plain, {})
    assert load_tree(plain, {"STREAMSUITE_AUTH__MODE": "none"}).auth.enabled is False


def test_submit_stays_off_without_authentication_unless_enabled_explicitly():
    plain = {"DATABASE": DB["DATABASE"], "AUTH": {"MODE": "none"}}
    cfg = load_tree(plain, {})  # no KAFKA needed: Submit is off
    assert (cfg.kafka, cfg.submit_enabled) == (None, False)
    cfg = load_tree({**plain, **KAFKA}, {})
    assert not cfg.submit_enabled
    cfg = load_tree({**plain, **KAFKA}, {"STREAMSUITE_WEB__SUBMIT_WITHOUT_AUTH": "true"})
    assert cfg.submit_enabled
