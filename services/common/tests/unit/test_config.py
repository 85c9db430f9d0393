"""Settings: YAML plus environment, validated into frozen sections, errors as one line."""

import dataclasses
import ipaddress

import pytest

from streamsuite_common.config import (
    EXIT_CONFIG,
    SHARED_SECTIONS,
    ConfigError,
    DatabaseSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
    as_bool,
    as_host_port_list,
    env_name,
    exit_on_config_error,
    load,
    load_config,
    read_yaml_file,
    redacted,
    reference_rows,
)


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    kafka: KafkaSettings
    http: HttpSettings


@dataclasses.dataclass(frozen=True)
class DbConfig:
    database: DatabaseSettings
    log: LogSettings


@dataclasses.dataclass(frozen=True)
class FullConfig:
    kafka: KafkaSettings
    database: DatabaseSettings
    log: LogSettings
    http: HttpSettings


KAFKA_OK = {"KAFKA": {"BOOTSTRAP_SERVERS": "localhost:9092"}}
DB_OK = {"DATABASE": {"HOST": "db.local", "DBNAME": "streamsuite", "DBUSER": "writer"}}


def config_error(config_cls: type, tree: object, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(config_cls, tree, env or {})
    return str(info.value)


# --- required keys and the bootstrap list ---


def test_missing_bootstrap_servers_names_the_key() -> None:
    message = config_error(SampleConfig, {}, {})
    assert message.startswith("KAFKA.BOOTSTRAP_SERVERS: missing")
    assert "STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS" in message


def test_null_yaml_value_counts_as_missing() -> None:
    message = config_error(SampleConfig, {"KAFKA": {"BOOTSTRAP_SERVERS": None}})
    assert message.startswith("KAFKA.BOOTSTRAP_SERVERS: missing")


def test_missing_database_host_names_its_key() -> None:
    tree = {"DATABASE": {"DBNAME": "streamsuite", "DBUSER": "writer"}}
    assert config_error(DbConfig, tree).startswith("DATABASE.HOST: missing")


@pytest.mark.parametrize("bad", ["localhost", "host:0", "host:99999", "a b:1", "host:", ":9092"])
def test_malformed_bootstrap_servers_names_the_key_and_the_value(bad: str) -> None:
    message = config_error(SampleConfig, {"KAFKA": {"BOOTSTRAP_SERVERS": bad}})
    assert message.startswith("KAFKA.BOOTSTRAP_SERVERS: ")
    assert repr(bad) in message


def test_one_bad_address_among_good_ones_is_rejected() -> None:
    message = config_error(SampleConfig, {"KAFKA": {"BOOTSTRAP_SERVERS": "a:1,b,c:3"}})
    assert message.startswith("KAFKA.BOOTSTRAP_SERVERS: 'b' is not host:port")


def test_empty_bootstrap_servers_is_rejected_not_defaulted() -> None:
    message = config_error(SampleConfig, {}, {"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": " , "})
    assert message.startswith("KAFKA.BOOTSTRAP_SERVERS: expected host:port")


def test_bootstrap_servers_comma_list_becomes_a_tuple_of_trimmed_addresses() -> None:
    tree = {"KAFKA": {"BOOTSTRAP_SERVERS": " a:1 , b.example.com:9093,[::1]:9094 "}}
    config = load_config(SampleConfig, tree, {})
    assert config.kafka.bootstrap_servers == ("a:1", "b.example.com:9093", "[::1]:9094")


def test_bootstrap_servers_accepts_a_yaml_list() -> None:
    config = load_config(SampleConfig, {"KAFKA": {"BOOTSTRAP_SERVERS": ["a:1", "b:65535"]}}, {})
    assert config.kafka.bootstrap_servers == ("a:1", "b:65535")


def test_as_host_port_list_rejects_port_zero_and_above_65535() -> None:
    assert as_host_port_list("h:1") == ("h:1",)
    assert as_host_port_list("h:65535") == ("h:65535",)
    for bad in ("h:0", "h:65536"):
        with pytest.raises(ValueError, match="port 1-65535"):
            as_host_port_list(bad)


# --- where a value comes from ---


def test_defaults_fill_every_optional_setting() -> None:
    config = load_config(SampleConfig, KAFKA_OK, {})
    assert config.kafka.topic == "records"
    assert config.kafka.dlq_topic == "records.dlq"
    assert config.kafka.compression == "gzip"
    assert config.kafka.security_protocol == "PLAINTEXT"
    assert ipaddress.ip_address(config.http.host).is_unspecified
    assert config.http.port == 8000


def test_env_var_overrides_yaml_topic() -> None:
    tree = {"KAFKA": {"BOOTSTRAP_SERVERS": "localhost:9092", "TOPIC": "from-yaml"}}
    config = load_config(SampleConfig, tree, {"STREAMSUITE_KAFKA__TOPIC": "from-env"})
    assert config.kafka.topic == "from-env"


def test_env_alone_can_supply_a_required_key() -> None:
    config = load_config(SampleConfig, {}, {"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": "k:9092"})
    assert config.kafka.bootstrap_servers == ("k:9092",)


def test_env_values_are_parsed_to_the_settings_type() -> None:
    env = {"STREAMSUITE_HTTP__PORT": " 9100 ", "STREAMSUITE_KAFKA__REQUEST_TIMEOUT_S": "2.5"}
    config = load_config(SampleConfig, KAFKA_OK, env)
    assert config.http.port == 9100
    assert config.kafka.request_timeout_s == 2.5


def test_env_password_file_is_read_and_stripped(tmp_path) -> None:
    secret = tmp_path / "pwd"
    secret.write_text("  s3cret\n\n", encoding="utf-8")
    env = {"STREAMSUITE_DATABASE__USER_PWD_FILE": str(secret)}
    config = load_config(DbConfig, DB_OK, env)
    assert config.database.user_pwd == "s3cret"


def test_yaml_password_file_is_read_and_stripped(tmp_path) -> None:
    secret = tmp_path / "pwd"
    secret.write_text("from-file\n", encoding="utf-8")
    tree = {"DATABASE": {**DB_OK["DATABASE"], "USER_PWD_FILE": str(secret)}}
    assert load_config(DbConfig, tree, {}).database.user_pwd == "from-file"


def test_unreadable_env_secret_file_names_the_variable(tmp_path) -> None:
    missing = tmp_path / "nope"
    env = {"STREAMSUITE_DATABASE__USER_PWD_FILE": str(missing)}
    message = config_error(DbConfig, DB_OK, env)
    assert message.startswith("STREAMSUITE_DATABASE__USER_PWD_FILE: cannot read")
    assert str(missing) in message


def test_unreadable_yaml_secret_file_names_the_key(tmp_path) -> None:
    tree = {"DATABASE": {**DB_OK["DATABASE"], "USER_PWD_FILE": str(tmp_path / "nope")}}
    assert config_error(DbConfig, tree).startswith("DATABASE.USER_PWD_FILE: cannot read")


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (("env", "env_file", "yaml", "yaml_file"), "from-env"),
        (("env_file", "yaml", "yaml_file"), "from-env-file"),
        (("yaml", "yaml_file"), "from-yaml"),
        (("yaml_file",), "from-yaml-file"),
        ((), "records"),
    ],
)
def test_env_beats_env_file_beats_yaml_beats_yaml_file_beats_default(
    tmp_path, sources: tuple[str, ...], expected: str
) -> None:
    env_file = tmp_path / "env-topic"
    env_file.write_text("from-env-file\n", encoding="utf-8")
    yaml_file = tmp_path / "yaml-topic"
    yaml_file.write_text("from-yaml-file\n", encoding="utf-8")
    kafka: dict[str, object] = {"BOOTSTRAP_SERVERS": "localhost:9092"}
    env: dict[str, str] = {}
    if "env" in sources:
        env["STREAMSUITE_KAFKA__TOPIC"] = "from-env"
    if "env_file" in sources:
        env["STREAMSUITE_KAFKA__TOPIC_FILE"] = str(env_file)
    if "yaml" in sources:
        kafka["TOPIC"] = "from-yaml"
    if "yaml_file" in sources:
        kafka["TOPIC_FILE"] = str(yaml_file)
    assert load_config(SampleConfig, {"KAFKA": kafka}, env).kafka.topic == expected


def test_service_defaults_replace_section_defaults() -> None:
    config = load_config(SampleConfig, KAFKA_OK, {}, defaults={"HTTP": {"PORT": 9101}})
    assert config.http.port == 9101
    assert ipaddress.ip_address(config.http.host).is_unspecified


def test_yaml_and_env_beat_service_defaults() -> None:
    defaults = {"HTTP": {"PORT": 9101}}
    tree = {**KAFKA_OK, "HTTP": {"PORT": 9200}}
    assert load_config(SampleConfig, tree, {}, defaults=defaults).http.port == 9200
    env = {"STREAMSUITE_HTTP__PORT": "9300"}
    assert load_config(SampleConfig, tree, env, defaults=defaults).http.port == 9300


def test_service_defaults_can_supply_a_required_key() -> None:
    defaults = {"KAFKA": {"BOOTSTRAP_SERVERS": ("k:9092",)}}
    config = load_config(SampleConfig, {}, {}, defaults=defaults)
    assert config.kafka.bootstrap_servers == ("k:9092",)


def test_env_of_sections_the_config_does_not_have_is_ignored() -> None:
    env = {"STREAMSUITE_DATABASE__HOST": "db", "STREAMSUITE_OTHER__THING": "x"}
    assert load_config(SampleConfig, KAFKA_OK, env).kafka.topic == "records"


# --- typos and bad values ---


def test_unknown_yaml_key_in_known_section_suggests_the_right_one() -> None:
    tree = {"KAFKA": {"BOOTSTRAP_SERVERS": "localhost:9092", "TOPPIC": "x"}}
    assert config_error(SampleConfig, tree) == "KAFKA.TOPPIC: unknown key (did you mean TOPIC?)"


def test_unknown_env_key_in_known_section_suggests_the_right_one() -> None:
    message = config_error(SampleConfig, KAFKA_OK, {"STREAMSUITE_KAFKA__TOPICS": "x"})
    assert message == "STREAMSUITE_KAFKA__TOPICS: unknown key (did you mean TOPIC?)"


def test_unknown_key_without_a_close_match_gives_no_suggestion() -> None:
    tree = {"KAFKA": {"BOOTSTRAP_SERVERS": "localhost:9092", "ZZZZZZZZ": "x"}}
    assert config_error(SampleConfig, tree) == "KAFKA.ZZZZZZZZ: unknown key"


def test_file_variant_of_a_known_key_is_not_unknown(tmp_path) -> None:
    topic = tmp_path / "topic"
    topic.write_text("t1", encoding="utf-8")
    env = {"STREAMSUITE_KAFKA__TOPIC_FILE": str(topic)}
    assert load_config(SampleConfig, KAFKA_OK, env).kafka.topic == "t1"


def test_section_that_is_not_a_mapping_is_rejected() -> None:
    message = config_error(SampleConfig, {"KAFKA": "localhost:9092"})
    assert message == "KAFKA: expected a mapping of keys, got str"


def test_config_tree_that_is_not_a_mapping_is_rejected() -> None:
    assert config_error(SampleConfig, ["KAFKA"]).startswith("config: expected a mapping")


@pytest.mark.parametrize(
    ("tree", "prefix"),
    [
        ({**KAFKA_OK, "HTTP": {"PORT": "eighty"}}, "HTTP.PORT: expected a whole number"),
        ({**KAFKA_OK, "HTTP": {"PORT": 70000}}, "HTTP.PORT: must be between 0 and 65535"),
        ({**KAFKA_OK, "HTTP": {"PORT": True}}, "HTTP.PORT: expected a whole number"),
        ({**KAFKA_OK, "HTTP": {"HOST": "  "}}, "HTTP.HOST: must not be empty"),
        ({**KAFKA_OK, "HTTP": {"HOST": ["a", "b"]}}, "HTTP.HOST: expected a single value"),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "COMPRESSION": "snappy"}}, "KAFKA.COMPRESSION: must be"),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "TOPIC": "bad topic"}}, "KAFKA.TOPIC: 'bad topic'"),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "TOPIC": ".."}}, "KAFKA.TOPIC: '..'"),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "TOPIC": "t" * 250}}, "KAFKA.TOPIC: "),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "REQUEST_TIMEOUT_S": 0.5}}, "KAFKA.REQUEST_TIMEOUT_S: "),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "CONNECT_TIMEOUT_S": "soon"}}, "KAFKA.CONNECT_TIMEOUT_S"),
        ({"KAFKA": {**KAFKA_OK["KAFKA"], "SECURITY_PROTOCOL": "TLS"}}, "KAFKA.SECURITY_PROTOCOL"),
    ],
)
def test_bad_value_raises_one_line_naming_its_key(tree: dict, prefix: str) -> None:
    message = config_error(SampleConfig, tree)
    assert message.startswith(prefix)
    assert "\n" not in message


def test_choices_are_case_insensitive_and_normalised() -> None:
    tree = {"KAFKA": {**KAFKA_OK["KAFKA"], "COMPRESSION": "LZ4", "SECURITY_PROTOCOL": "ssl"}}
    config = load_config(SampleConfig, tree, {})
    assert config.kafka.compression == "lz4"
    assert config.kafka.security_protocol == "SSL"


def test_log_settings_lowercase_their_choices() -> None:
    env = {"STREAMSUITE_LOG__LEVEL": "WARNING", "STREAMSUITE_LOG__FORMAT": "Json"}
    config = load_config(DbConfig, DB_OK, env)
    assert (config.log.level, config.log.format) == ("warning", "json")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), ("yes", True), ("ON", True), ("1", True), (False, False), (" off ", False)],
)
def test_as_bool_reads_common_spellings(raw: object, expected: bool) -> None:
    assert as_bool(raw) is expected


def test_as_bool_rejects_anything_else() -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        as_bool("maybe")


# --- cross-field checks ---


def test_sasl_ssl_without_username_raises() -> None:
    tree = {"KAFKA": {**KAFKA_OK["KAFKA"], "SECURITY_PROTOCOL": "SASL_SSL"}}
    message = config_error(SampleConfig, tree, {"STREAMSUITE_KAFKA__SASL_PASSWORD": "pw"})
    assert message == "KAFKA.SASL_USERNAME: required when KAFKA.SECURITY_PROTOCOL is SASL_SSL"


def test_sasl_without_password_names_the_password() -> None:
    tree = {"KAFKA": {**KAFKA_OK["KAFKA"], "SECURITY_PROTOCOL": "sasl_plaintext"}}
    message = config_error(SampleConfig, tree, {"STREAMSUITE_KAFKA__SASL_USERNAME": "user"})
    assert message.startswith("KAFKA.SASL_PASSWORD: required when")
    assert message.endswith("SASL_PLAINTEXT")


def test_sasl_ssl_with_user_and_password_loads() -> None:
    tree = {"KAFKA": {**KAFKA_OK["KAFKA"], "SECURITY_PROTOCOL": "SASL_SSL"}}
    env = {"STREAMSUITE_KAFKA__SASL_USERNAME": "u", "STREAMSUITE_KAFKA__SASL_PASSWORD": "p"}
    kafka = load_config(SampleConfig, tree, env).kafka
    assert (kafka.sasl_username, kafka.sasl_password) == ("u", "p")


def test_ssl_cafile_must_exist(tmp_path) -> None:
    missing = tmp_path / "ca.pem"
    tree = {"KAFKA": {**KAFKA_OK["KAFKA"], "SSL_CAFILE": str(missing)}}
    assert config_error(SampleConfig, tree).startswith("KAFKA.SSL_CAFILE: no such file")
    missing.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    assert load_config(SampleConfig, tree, {}).kafka.ssl_cafile == str(missing)


# --- the --cfg file ---


def test_read_yaml_file_returns_the_mapping(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("KAFKA:\n  BOOTSTRAP_SERVERS: k:9092\n  TOPIC: t\n", encoding="utf-8")
    assert read_yaml_file(path) == {"KAFKA": {"BOOTSTRAP_SERVERS": "k:9092", "TOPIC": "t"}}


def test_read_yaml_file_of_an_empty_file_is_an_empty_mapping(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("# nothing here\n", encoding="utf-8")
    assert read_yaml_file(path) == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("KAFKA:\n  TOPIC: [unclosed\n", "not valid YAML at line"),
        ("KAFKA: x\n  - : :\n", "not valid YAML"),
        ("- KAFKA\n- DATABASE\n", "expected a mapping of sections at the top"),
        ("just a string\n", "expected a mapping of sections at the top"),
    ],
)
def test_read_yaml_file_rejects_bad_content_in_one_line(
    tmp_path, content: str, expected: str
) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_yaml_file(path)
    message = str(info.value)
    assert message.startswith(f"--cfg {path}: ")
    assert expected in message
    assert "\n" not in message


def test_read_yaml_file_names_a_missing_file(tmp_path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        read_yaml_file(path)
    assert str(info.value) == f"--cfg {path}: cannot read it: No such file or directory"


def test_read_yaml_file_rejects_non_utf8(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_bytes(b"KAFKA:\n  TOPIC: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text$"):
        read_yaml_file(path)


def test_load_reads_the_file_and_applies_the_env(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("KAFKA:\n  BOOTSTRAP_SERVERS: k:9092\n  TOPIC: t\n", encoding="utf-8")
    config = load(SampleConfig, path, {"STREAMSUITE_HTTP__PORT": "1234"})
    assert config.kafka.bootstrap_servers == ("k:9092",)
    assert config.kafka.topic == "t"
    assert config.http.port == 1234


def test_load_without_a_file_uses_only_the_env() -> None:
    config = load(SampleConfig, None, {"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": "e:1"})
    assert config.kafka.bootstrap_servers == ("e:1",)


# --- exit code 2 ---


def test_exit_on_config_error_exits_2_with_one_line_on_stderr(capsys) -> None:
    with pytest.raises(SystemExit) as info, exit_on_config_error("publisher"):
        load_config(SampleConfig, {}, {})
    assert info.value.code == EXIT_CONFIG == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("publisher: config error: KAFKA.BOOTSTRAP_SERVERS: missing")
    assert "Traceback" not in captured.err


def test_exit_on_config_error_lets_other_errors_through() -> None:
    with pytest.raises(KeyError, match="other"), exit_on_config_error("publisher"):
        raise KeyError("other")


def test_exit_on_config_error_is_silent_when_config_is_fine(capsys) -> None:
    with exit_on_config_error("publisher"):
        config = load_config(SampleConfig, KAFKA_OK, {})
    assert config.kafka.topic == "records"
    assert capsys.readouterr().err == ""


# --- start-up log line and README table ---


def test_redacted_masks_secrets_and_keeps_the_rest() -> None:
    tree = {
        "KAFKA": {
            **KAFKA_OK["KAFKA"],
            "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SASL_USERNAME": "user",
        },
        "DATABASE": {**DB_OK["DATABASE"], "USER_PWD": "db-secret"},
    }
    config = load_config(FullConfig, tree, {"STREAMSUITE_KAFKA__SASL_PASSWORD": "kafka-secret"})
    out = redacted(config)
    assert set(out) == {"KAFKA", "DATABASE", "LOG", "HTTP"}
    assert out["KAFKA"]["SASL_PASSWORD"] == "***"
    assert out["DATABASE"]["USER_PWD"] == "***"
    assert out["KAFKA"]["SASL_USERNAME"] == "user"
    assert out["KAFKA"]["BOOTSTRAP_SERVERS"] == ("localhost:9092",)
    assert out["DATABASE"]["DBUSER"] == "writer"
    assert "secret" not in repr(out)


def test_redacted_shows_an_empty_secret_as_empty() -> None:
    out = redacted(load_config(SampleConfig, KAFKA_OK, {}))
    assert out["KAFKA"]["SASL_PASSWORD"] == ""


@dataclasses.dataclass(frozen=True)
class OptionalKafkaConfig:
    database: DatabaseSettings
    kafka: KafkaSettings | None = None


def test_redacted_skips_an_optional_section_that_is_none() -> None:
    database = load_config(DbConfig, DB_OK, {}).database
    out = redacted(OptionalKafkaConfig(database=database))
    assert set(out) == {"DATABASE"}
    assert out["DATABASE"]["DBUSER"] == "writer"


def test_reference_rows_list_every_setting_with_its_env_var() -> None:
    rows = reference_rows(SHARED_SECTIONS)
    expected_keys = [
        f"{section.SECTION}.{field.metadata['spec'].key}"
        for section in SHARED_SECTIONS
        for field in dataclasses.fields(section)
    ]
    assert [row[0].strip("`") for row in rows] == expected_keys
    for key, var, _default, help_text in rows:
        section, _, name = key.strip("`").partition(".")
        assert var == f"`STREAMSUITE_{section}__{name}`"
        assert var.strip("`") == env_name(section, name)
        assert help_text
    by_key = {row[0]: row for row in rows}
    assert by_key["`KAFKA.BOOTSTRAP_SERVERS`"][2] == "required"
    assert by_key["`KAFKA.TOPIC`"][2] == "`records`"
    assert by_key["`KAFKA.SASL_USERNAME`"][2] == "empty"
    assert by_key["`HTTP.PORT`"][2] == "`8000`"
    assert "_FILE" in by_key["`DATABASE.USER_PWD`"][3]
    assert "_FILE" not in by_key["`DATABASE.HOST`"][3]


def test_env_name_joins_prefix_section_and_key() -> None:
    assert env_name("KAFKA", "TOPIC") == "STREAMSUITE_KAFKA__TOPIC"


def test_loaded_sections_are_immutable() -> None:
    config = load_config(SampleConfig, KAFKA_OK, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kafka.topic = "other"  # type: ignore[misc]
    assert config.kafka.topic == "records"


def test_host_with_a_newline_before_the_port_is_rejected() -> None:
    env = {"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": "a\n:9092"}
    assert config_error(SampleConfig, {}, env).startswith("KAFKA.BOOTSTRAP_SERVERS: ")
