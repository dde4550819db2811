"""Configuration: seed variable names, embedded defaults and production refusals."""

import re
from pathlib import Path

import pytest

from server.core.config import (
    PROJECT_ROOT,
    ConfigError,
    Settings,
    environment_variable,
    load_settings,
)

STRONG = "Zq8" + "r" * 10 + "N4vL2pX7kT9mW3bY6cJ1hF5dS0gA"


def test_zero_configuration_uses_sqlite_and_embedded_redis(tmp_path):
    settings = load_settings({"INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'job_agent.db'}"
    assert settings.redis_url is None
    assert len(settings.jwt_secret_key) >= 32
    # Generated once and reused.
    again = load_settings({"INSTANCE_DIR": str(tmp_path)})
    assert again.jwt_secret_key == settings.jwt_secret_key
    assert again.encryption_key == settings.encryption_key
    assert settings.embedded_redis_port == 6379 and settings.job_events_token_seconds == 60


def test_the_embedded_redis_port_and_the_events_token_life_are_settings(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path)}
    settings = load_settings({**env, "EMBEDDED_REDIS_PORT": "0", "JOB_EVENTS_TOKEN_SECONDS": "30"})
    assert settings.embedded_redis_port == 0 and settings.job_events_token_seconds == 30
    with pytest.raises(ConfigError, match="EMBEDDED_REDIS_PORT must be at least 0"):
        load_settings({**env, "EMBEDDED_REDIS_PORT": "-1"})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "5100"}, "http://127.0.0.1:5100"),
        ({"HOST": "0.0.0.0", "PORT": "8080"}, "http://127.0.0.1:8080"),  # noqa: S104
        ({"HOST": "::1"}, "http://[::1]:5000"),
        ({"PORT": "5100", "PUBLIC_BASE_URL": "https://jobs.example/"}, "https://jobs.example"),
    ],
)
def test_the_public_base_url_follows_the_port_unless_it_is_set(tmp_path, env, expected):
    settings = load_settings({"INSTANCE_DIR": str(tmp_path), **env})
    assert settings.public_base_url == expected


def test_seed_database_and_redis_variables():
    settings = load_settings(
        {
            "DB_HOST": "db.internal",
            "DB_PORT": "6543",
            "DB_NAME": "agent",
            "DB_USER": "svc",
            "DB_PASSWORD": "p@ss",
            "REDIS_HOST": "cache.internal",
            "REDIS_PORT": "6380",
            "JWT_SECRET_KEY": STRONG,
            "ENCRYPTION_KEY": STRONG,
            "JOB_QUEUE_MAX_WORKERS": "7",
            "JOB_QUEUE_MAX_PER_USER": "3",
            "GOOGLE_API_KEY": "g-key",
            "MIMIKREE_EMAIL": "m@example.com",
        }
    )
    assert settings.database_url == "postgresql+psycopg://svc:p%40ss@db.internal:6543/agent"
    assert settings.redis_url == "redis://cache.internal:6380/0"
    assert settings.job_queue_max_workers == 7 and settings.job_queue_max_per_user == 3
    assert settings.google_api_key == "g-key" and settings.mimikree_email == "m@example.com"


def test_database_url_wins_and_uses_psycopg():
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://u@h/d",
            "DB_HOST": "ignored",
            "JWT_SECRET_KEY": STRONG,
            "ENCRYPTION_KEY": STRONG,
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h/d"


@pytest.mark.parametrize(
    ("jwt_secret", "encryption_key", "phrase"),
    [
        (None, STRONG, "JWT_SECRET_KEY is missing"),
        ("your-secret-key", STRONG, "JWT_SECRET_KEY is a known placeholder"),
        ("short-but-random-9f8e", STRONG, "JWT_SECRET_KEY is too short"),
        (STRONG, None, "ENCRYPTION_KEY is missing"),
        (STRONG, "changeme", "ENCRYPTION_KEY is a known placeholder"),
    ],
)
def test_production_refuses_weak_secrets(jwt_secret, encryption_key, phrase):
    env = {"FLASK_ENV": "production"}
    if jwt_secret:
        env["JWT_SECRET_KEY"] = jwt_secret
    if encryption_key:
        env["ENCRYPTION_KEY"] = encryption_key
    with pytest.raises(ConfigError, match=phrase):
        load_settings(env)


def test_production_accepts_strong_secrets():
    settings = load_settings(
        {"FLASK_ENV": "production", "JWT_SECRET_KEY": STRONG, "ENCRYPTION_KEY": STRONG}
    )
    assert settings.is_production and settings.auto_migrate is False


def test_production_refuses_to_let_outbound_requests_reach_loopback():
    env = {"FLASK_ENV": "production", "JWT_SECRET_KEY": STRONG, "ENCRYPTION_KEY": STRONG}
    assert load_settings(env).outbound_allow_loopback_ports == ()
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOW_LOOPBACK_PORTS"):
        load_settings({**env, "OUTBOUND_ALLOW_LOOPBACK_PORTS": "8080"})


def test_resume_parsing_and_link_settings_are_read(tmp_path):
    settings = load_settings(
        {
            "INSTANCE_DIR": str(tmp_path),
            "RESUME_PARSE_CPU_SECONDS": "3",
            "RESUME_PARSE_MEMORY_MB": "256",
            "RESUME_PARSE_TIMEOUT_SECONDS": "5",
            "RESUME_PARSE_MAX_PAGES": "8",
            "RESUME_FETCH_TIMEOUT_SECONDS": "4",
            "RESUME_FETCH_MAX_REDIRECTS": "1",
            "RESUME_FETCH_GOOGLE_DOCS_EXPORT_BASE": "https://docs.example/",
            "OUTBOUND_ALLOW_LOOPBACK_PORTS": "8080, 8081",
        }
    )
    assert (settings.resume_parse_cpu_seconds, settings.resume_parse_memory_mb) == (3, 256)
    assert (settings.resume_parse_timeout_seconds, settings.resume_parse_max_pages) == (5.0, 8)
    assert (settings.resume_fetch_timeout_seconds, settings.resume_fetch_max_redirects) == (4.0, 1)
    assert settings.resume_fetch_google_docs_export_base == "https://docs.example"
    assert settings.outbound_allow_loopback_ports == (8080, 8081)


def test_bad_numbers_fail_loudly():
    with pytest.raises(ConfigError, match="JOB_QUEUE_MAX_WORKERS must be an integer"):
        load_settings(
            {"JOB_QUEUE_MAX_WORKERS": "many", "JWT_SECRET_KEY": STRONG, "ENCRYPTION_KEY": STRONG}
        )


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    from server.core import config

    dotenv = tmp_path / ".env"
    dotenv.write_text("JOB_QUEUE_MAX_WORKERS=9\n")
    monkeypatch.delenv("JOB_QUEUE_MAX_WORKERS", raising=False)
    env = config.read_environment(dotenv)
    assert env["JOB_QUEUE_MAX_WORKERS"] == "9"


def test_rate_limit_variables_are_kept_raw_for_the_limiter(tmp_path):
    settings = load_settings(
        {
            "INSTANCE_DIR": str(tmp_path),
            "RATE_LIMIT_RESUME_TAILORING_PER_USER_PER_DAY": "10/86400",
            "RATE_LIMIT_ENABLED": "false",
        }
    )
    assert settings.rate_limit_overrides == {
        "RATE_LIMIT_RESUME_TAILORING_PER_USER_PER_DAY": "10/86400"
    }
    assert settings.rate_limit_enabled is False
    assert load_settings({"INSTANCE_DIR": str(tmp_path)}).rate_limit_enabled is True


def test_gemini_settings_have_pinned_defaults_and_are_read(tmp_path):
    defaults = load_settings({"INSTANCE_DIR": str(tmp_path)})
    assert defaults.gemini_api_version == "v1beta"
    assert (defaults.gemini_base_url, defaults.gemini_timeout_seconds) == (None, 60.0)
    assert defaults.llm_cache_ttl_seconds == 7 * 86400
    settings = load_settings(
        {
            "INSTANCE_DIR": str(tmp_path),
            "GEMINI_MODEL": "gemini-x",
            "GEMINI_API_VERSION": "v1",
            "GEMINI_BASE_URL": "http://127.0.0.1:9",
            "GEMINI_TIMEOUT_SECONDS": "12.5",
            "LLM_CACHE_TTL_SECONDS": "0",
        }
    )
    assert (settings.gemini_model, settings.gemini_api_version) == ("gemini-x", "v1")
    assert settings.gemini_base_url == "http://127.0.0.1:9"
    assert (settings.gemini_timeout_seconds, settings.llm_cache_ttl_seconds) == (12.5, 0)


def test_an_unknown_gemini_api_version_fails_loudly(tmp_path):
    with pytest.raises(ConfigError, match="GEMINI_API_VERSION must be v1 or v1beta"):
        load_settings({"INSTANCE_DIR": str(tmp_path), "GEMINI_API_VERSION": "v2"})


def test_a_bad_value_names_its_variable_in_one_line(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path)}
    cases = {
        "LOG_TO_STDOUT": ("maybe", "LOG_TO_STDOUT must be a boolean"),
        "GEMINI_TIMEOUT_SECONDS": ("soon", "GEMINI_TIMEOUT_SECONDS must be a number"),
        "PASSWORD_MIN_STRENGTH": ("9", "PASSWORD_MIN_STRENGTH must be at most 4"),
        "DB_PORT": ("five", "DB_PORT must be an integer"),
        "GUNICORN_THREADS": ("0", "GUNICORN_THREADS must be at least 1"),
        "RATE_LIMIT_FOO": ("abc", "RATE_LIMIT_FOO='abc': expected N/SECONDS"),
    }
    for variable, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message) as caught:
            load_settings({**env, variable: value})
        assert "\n" not in str(caught.value)


def test_a_secret_is_never_echoed_in_an_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings({"INSTANCE_DIR": str(tmp_path), "SMTP_PORT": "hunter2-secret"})
    assert "SMTP_PORT must be an integer" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_settings({"INSTANCE_DIR": str(tmp_path), "REDIS_PORT": "x", "REDIS_PASSWORD": "pw"})
    assert "pw'" not in str(caught.value)


def test_redis_parts_with_a_password_and_a_database(tmp_path):
    settings = load_settings(
        {
            "INSTANCE_DIR": str(tmp_path),
            "REDIS_HOST": "cache",
            "REDIS_PASSWORD": "pw",
            "REDIS_DB": "3",
        }
    )
    assert settings.redis_url == "redis://:pw@cache:6379/3"


def test_settings_built_by_hand_read_no_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JOB_QUEUE_MAX_WORKERS", "9")
    monkeypatch.setenv("RATE_LIMIT_FOO", "1/60")
    settings = Settings(instance_dir=tmp_path, jwt_secret_key="j" * 40, encryption_key="e" * 44)
    assert settings.job_queue_max_workers == 5 and settings.rate_limit_overrides == {}
    assert settings.replace(job_queue_max_workers=2).job_queue_max_workers == 2


def test_empty_variables_mean_the_default(tmp_path):
    settings = load_settings({"INSTANCE_DIR": str(tmp_path), "PORT": "", "GOOGLE_API_KEY": ""})
    assert settings.port == 5000 and settings.google_api_key is None


CONFIGURATION_PAGE = PROJECT_ROOT / "docs" / "configuration.md"


def _documented_configuration_variables() -> set[str]:
    table = CONFIGURATION_PAGE.read_text()
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_the_configuration_page_documents_every_setting_and_only_settings():
    documented = _documented_configuration_variables()
    declared = {environment_variable(name) for name in Settings.model_fields}
    # Derived, not set from the environment by that name.
    declared -= {"DATABASE_IS_DEFAULT", "RATE_LIMIT_OVERRIDES"}
    assert declared - documented == set(), "settings missing from docs/configuration.md"
    assert documented - declared == set(), "docs/configuration.md rows with no setting"


def _shown(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_documented_defaults_are_the_declared_defaults():
    """Each row of one variable whose default is one plain value shows the declared default."""
    table = CONFIGURATION_PAGE.read_text()
    by_variable = {environment_variable(name): name for name in Settings.model_fields}
    compared = 0
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) != 3 or not re.fullmatch(r"`[A-Z][A-Z0-9_]*`", cells[0]):
            continue
        default = re.fullmatch(r"`([^`]*)`", cells[1])
        if not default:
            continue
        field = Settings.model_fields[by_variable[cells[0].strip("`")]]
        if field.default in (None, ()) or isinstance(field.default, Path):
            continue  # derived (`HOST:PORT`, the tiers) or a path shown relative
        assert default[1] == _shown(field.default), cells[0]
        compared += 1
    assert compared >= 20


def test_secrets_never_show_in_the_settings_repr(tmp_path):
    settings = load_settings(
        {
            "INSTANCE_DIR": str(tmp_path),
            "SMTP_PASSWORD": "smtp-pw-123",
            "PASSWORD_PEPPER": "pepper-x-77",
        }
    )
    shown = repr(settings)
    for secret in (settings.jwt_secret_key, settings.encryption_key, "smtp-pw-123", "pepper-x-77"):
        assert secret not in shown
    assert "job_queue_max_workers=5" in shown
