"""The functions' environment, read into Settings with the names template.yaml gives it."""

from __future__ import annotations

import pytest

from reply_sla.errors import ConfigError
from reply_sla.local.provision import load_template
from reply_sla.settings import Settings
from tests.conftest import TEMPLATE

# Read by Powertools itself, not by Settings.
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
POWERTOOLS |= {"LOG_LEVEL"}


def _template_environment() -> dict[str, str]:
    """Every variable template.yaml gives the functions, with a sample value."""
    variables = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    samples = {"DUE_SHARDS": "8", "RETENTION_DAYS": "30"}
    return {name: samples.get(name, f"value-of-{name}") for name in variables}


def test_from_env_reads_every_variable_the_template_sets():
    # Given the environment template.yaml gives every function
    env = _template_environment()
    # When the settings are read from it
    settings = Settings.from_env(env)
    # Then each variable that is not Powertools' own lands in a setting
    read = {f.alias for f in Settings.model_fields.values()}
    assert set(env) - POWERTOOLS <= read
    assert settings.table_name == "value-of-TABLE_NAME"
    assert settings.topic_arn == "value-of-TOPIC_ARN"
    assert settings.poll_queue_url == "value-of-POLL_QUEUE_URL"
    assert settings.bucket_name == "value-of-BUCKET_NAME"
    assert settings.config_parameter == "value-of-CONFIG_PARAMETER"
    assert (settings.due_shards, settings.retention_days) == (8, 30)


def test_from_env_ignores_unrelated_variables_and_uses_defaults():
    # Given only TABLE_NAME among unrelated variables
    settings = Settings.from_env({"TABLE_NAME": "t", "HOME": "/root", "PATH": "/bin"})
    # When read, Then the optional settings take their defaults
    assert settings.table_name == "t"
    assert (settings.topic_arn, settings.due_shards, settings.endpoint_url) == ("", 4, None)


@pytest.mark.parametrize("env", [{}, {"TABLE_NAME": ""}], ids=["unset", "empty"])
def test_from_env_without_table_name_names_it(env):
    # Given an environment without a table name
    # When the settings are read, Then the error names TABLE_NAME
    with pytest.raises(ConfigError, match="TABLE_NAME"):
        Settings.from_env({"TOPIC_ARN": "arn", **env})


def test_from_env_names_a_variable_with_a_bad_value():
    # Given DUE_SHARDS of 0 (at least one shard is needed)
    # When the settings are read, Then the error names DUE_SHARDS
    with pytest.raises(ConfigError, match="DUE_SHARDS"):
        Settings.from_env({"TABLE_NAME": "t", "DUE_SHARDS": "0"})


def test_require_names_the_missing_variables():
    # Given settings with only a table
    settings = Settings.from_env({"TABLE_NAME": "t"})
    # When a function requires a topic and a bucket
    # Then the error names both environment variables
    with pytest.raises(ConfigError, match="TOPIC_ARN, BUCKET_NAME"):
        settings.require("topic_arn", "bucket_name")


def test_require_passes_when_the_variables_are_set():
    # Given settings with a topic, When a function requires it, Then nothing is raised
    Settings.from_env({"TABLE_NAME": "t", "TOPIC_ARN": "arn"}).require("topic_arn")
