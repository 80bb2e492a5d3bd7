"""The environment each function needs, as pydantic models (read when a handler first runs)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reply_sla.errors import ConfigError


class Settings(BaseModel):
    """Environment of every replysla function (names as in template.yaml)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    topic_arn: str = Field(default="", alias="TOPIC_ARN")
    poll_queue_url: str = Field(default="", alias="POLL_QUEUE_URL")
    bucket_name: str = Field(default="", alias="BUCKET_NAME")
    config_parameter: str = Field(default="", alias="CONFIG_PARAMETER")
    config_file: str = Field(default="", alias="REPLYSLA_CONFIG_FILE")
    due_shards: int = Field(default=4, alias="DUE_SHARDS", ge=1, le=64)
    retention_days: int = Field(default=400, alias="RETENTION_DAYS", ge=1)
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    # The e-mails' snooze / handled links: the HTTP API's /act address and the signing key.
    action_url: str = Field(default="", alias="ACTION_URL")
    action_key_secret_arn: str = Field(default="", alias="ACTION_KEY_SECRET_ARN")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        known = {f.alias for f in cls.model_fields.values() if f.alias}
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in known and v != ""})
        except ValidationError as exc:
            problems = "; ".join(
                f"{err['loc'][0]}: {err['msg']}" for err in exc.errors() if err.get("loc")
            )
            raise ConfigError(f"environment is incomplete: {problems}") from exc

    def require(self, *names: str) -> None:
        """Fail early, naming the variable, when a function needs a setting that is empty."""
        missing = [
            field.alias or name
            for name, field in type(self).model_fields.items()
            if (name in names or field.alias in names) and not getattr(self, name)
        ]
        if missing:
            raise ConfigError(f"environment variable(s) not set: {', '.join(missing)}")
