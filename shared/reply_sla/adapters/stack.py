"""A deployed replysla stack as the operator commands see it: its outputs, the configuration
parameter, and the summaries bucket."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.errors import ConfigError

#: The SSM parameter's Intelligent-Tiering moves it to the advanced tier (8 KB) above 4 KB.
MAX_PARAMETER_BYTES = 8192


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if _code(exc) == "ValidationError":
            region = cloudformation.meta.region_name
            raise ConfigError(
                f"no stack named {stack} in {region} (check AWS_REGION / AWS_PROFILE)"
            ) from exc
        raise ConfigError(f"cannot read stack {stack}: {_code(exc)}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"cannot read stack {stack}: {type(exc).__name__}") from exc
    if not stacks:
        raise ConfigError(f"no stack named {stack}")
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}


def require_output(outputs: dict[str, str], key: str, stack: str) -> str:
    if not outputs.get(key):
        raise ConfigError(
            f"stack {stack} has no {key} output: is it a replysla stack, and fully deployed?"
        )
    return outputs[key]


@dataclass(frozen=True)
class PushedParameter:
    name: str
    version: int
    tier: str
    size: int


def push_config_text(ssm: Any, name: str, text: str) -> PushedParameter:
    """Overwrite the configuration parameter with `text` (validated by the caller)."""
    size = len(text.encode("utf-8"))
    if size > MAX_PARAMETER_BYTES:
        raise ConfigError(
            f"the configuration is {size} bytes; an SSM parameter holds at most "
            f"{MAX_PARAMETER_BYTES} (remove comments, or split brands across stacks)"
        )
    try:
        response = ssm.put_parameter(
            Name=name,
            Value=text,
            Type="String",
            Overwrite=True,
            Tier="Intelligent-Tiering",
        )
    except ClientError as exc:
        raise ConfigError(f"cannot write SSM parameter {name}: {_code(exc)}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"cannot write SSM parameter {name}: {type(exc).__name__}") from exc
    return PushedParameter(
        name, int(response.get("Version", 0)), str(response.get("Tier", "Standard")), size
    )


def read_config_text(ssm: Any, name: str) -> str:
    """The configuration parameter's current text."""
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as exc:
        raise ConfigError(f"cannot read SSM parameter {name}: {_code(exc)}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"cannot read SSM parameter {name}: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class StoredSummary:
    brand: str
    week: str
    written_at: datetime
    prefix: str


def last_summary(s3: Any, bucket: str, brand: str) -> StoredSummary | None:
    """The latest week under summaries/<brand>/ that has a summary.json, or None."""
    prefix = f"summaries/{brand}/"
    weeks: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        ):
            weeks.extend(
                str(p["Prefix"])
                for p in page.get("CommonPrefixes", [])
                if re.fullmatch(r"\d{4}-W\d{2}/", str(p["Prefix"]).removeprefix(prefix))
            )
        # Week folders are named <YYYY>-W<ww> (latest/ is a copy, not a week): their text
        # order is their time order.
        for week_prefix in sorted(weeks, reverse=True):
            try:
                head = s3.head_object(Bucket=bucket, Key=f"{week_prefix}summary.json")
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise
            week = week_prefix.removeprefix(prefix).rstrip("/")
            return StoredSummary(brand, week, head["LastModified"], week_prefix)
    except ClientError as exc:
        raise ConfigError(f"cannot list summaries in bucket {bucket}: {_code(exc)}") from exc
    except BotoCoreError as exc:
        raise ConfigError(
            f"cannot list summaries in bucket {bucket}: {type(exc).__name__}"
        ) from exc
    return None
