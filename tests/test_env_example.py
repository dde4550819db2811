"""env_production_example.txt lists exactly the variables the service reads.

The list is derived from `Settings` (server/core/config.py): a new field makes this test name the
variable to add to the example, a removed one the line to drop.
"""

import re

from dotenv import dotenv_values

from server.core.config import PROJECT_ROOT, Settings, environment_variable, load_settings

EXAMPLE = PROJECT_ROOT / "env_production_example.txt"
# Fields that are not variables of their own: derived from DATABASE_URL, and the collection of
# every RATE_LIMIT_<NAME> variable (the example shows the pattern with examples).
NOT_VARIABLES = {"database_is_default", "rate_limit_overrides"}
# Read by deploy_production.py, not by the service; the example says so.
DEPLOY_ONLY = {"DEPLOY_ADMIN_EMAIL", "DEPLOY_ADMIN_PASSWORD"}
VARIABLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.M)


def listed_variables() -> set[str]:
    return set(VARIABLE_LINE.findall(EXAMPLE.read_text()))


def test_the_example_lists_every_setting_and_nothing_else():
    expected = {
        environment_variable(name) for name in Settings.model_fields if name not in NOT_VARIABLES
    }
    listed = listed_variables()
    rate_limit_examples = {
        name for name in listed if name.startswith("RATE_LIMIT_") and name != "RATE_LIMIT_ENABLED"
    }
    assert sorted(expected - listed) == [], "add these to env_production_example.txt"
    assert sorted(listed - expected - DEPLOY_ONLY - rate_limit_examples) == [], (
        "env_production_example.txt names variables the service does not read"
    )
    assert rate_limit_examples, "the example shows how RATE_LIMIT_<NAME> is written"


def test_every_value_in_the_example_parses_once_secrets_are_filled_in():
    values = {k: v for k, v in dotenv_values(EXAMPLE).items() if v is not None}
    # The commented lines show valid values too: uncomment them all.
    commented = dict(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=(.*)$", EXAMPLE.read_text(), re.M))
    commented.pop("OUTBOUND_ALLOW_LOOPBACK_PORTS")  # refused in production, by design
    sentinels = commented.pop("REDIS_SENTINELS")  # instead of REDIS_URL, by design
    environ = {**commented, **values}
    environ.update(JWT_SECRET_KEY="j" * 20 + "k" * 20, ENCRYPTION_KEY="e" * 20 + "f" * 24)
    settings = load_settings(environ)
    assert settings.is_production
    assert settings.trusted_proxy_count == 1
    assert settings.public_base_url.startswith("https://")
    assert values["JWT_SECRET_KEY"] == values["ENCRYPTION_KEY"] == ""
    # The Sentinel lines parse in place of REDIS_URL and REDIS_HOST.
    without_url = {k: v for k, v in environ.items() if k not in {"REDIS_URL", "REDIS_HOST"}}
    through_sentinel = load_settings({**without_url, "REDIS_SENTINELS": sentinels})
    assert through_sentinel.redis_url is None and len(through_sentinel.sentinel_addresses) == 3
