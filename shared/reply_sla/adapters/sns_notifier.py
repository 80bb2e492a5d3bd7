"""Publishes escalations and summary notices to the SNS topic managers subscribe to."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.errors import ReplySlaError
from reply_sla.ports import AttributeValue

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# SNS e-mail subjects must be ASCII-printable, start with a letter, number or punctuation, and be
# under 100 characters.
MAX_SUBJECT = 99


class PublishFailed(ReplySlaError):
    """SNS did not accept the message; the caller releases its claim so a later run retries."""


def _subject(text: str) -> str:
    # Accents fold to their letters (Lucía -> Lucia); what has no ASCII form is dropped.
    folded = unicodedata.normalize("NFKD", text)
    ascii_only = " ".join("".join(ch for ch in folded if 32 <= ord(ch) < 127).split()).strip()
    return ascii_only[:MAX_SUBJECT] or "replysla notice"


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def publish(self, subject: str, body: str, attributes: Mapping[str, AttributeValue]) -> str:
        """Publish with MessageAttributes that subscription filter policies can match."""
        try:
            response = self._client.publish(
                TopicArn=self._topic,
                Subject=_subject(subject),
                Message=body,
                MessageAttributes=message_attributes(attributes),
            )
        except (ClientError, BotoCoreError) as exc:
            raise PublishFailed(f"SNS publish to {self._topic} failed: {exc}") from exc
        return str(response["MessageId"])


def message_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """One value is a String; several are a String.Array (JSON), which filter policies match
    when any element matches."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str):
            if value:
                out[key] = {"DataType": "String", "StringValue": value}
        elif value:
            out[key] = {"DataType": "String.Array", "StringValue": json.dumps(list(value))}
    return out
