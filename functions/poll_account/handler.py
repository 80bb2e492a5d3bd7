"""For each queued poll request: poll one account and store what is new."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from reply_sla.domain.weeks import parse_iso
from reply_sla.errors import ReplySlaError
from reply_sla.observability import count_by
from reply_sla.wiring import container

logger = Logger()


def requested_at(body: dict[str, Any]) -> datetime | None:
    """The dispatch time the request was queued for (None for a hand-made request)."""
    value = body.get("requested_at")
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def poll_one(record: SQSRecord) -> None:
    app = container()
    account_id = str(record.json_body["account_id"])
    try:
        report = app.poll(account_id, app.clock(), requested_at(record.json_body))
    except ReplySlaError as exc:
        # The message goes back to the queue (and after 5 tries to the DLQ); the cursor has not
        # moved, so nothing is lost. Say what is wrong and where, never the token.
        count_by(
            metrics, name="PollErrors", dimension="channel", counts={_channel_of(account_id): 1}
        )
        logger.warning(
            "account poll failed",
            extra={"account": account_id, "error": type(exc).__name__, "detail": str(exc)},
        )
        raise
    for problem in report.skipped:
        # A malformed item was skipped; the rest of the page was stored.
        logger.error("item skipped", extra={"account": account_id, "problem": problem[:500]})
    metrics.add_metric(name="MessagesIngested", unit=MetricUnit.Count, value=report.stored)
    metrics.add_metric(name="TurnsOpened", unit=MetricUnit.Count, value=report.turns_opened)
    # Only with something to report: a lag of 0 for an empty poll would hide the real ones, and
    # a custom metric costs by the hour it is published.
    if report.stored:
        metrics.add_metric(
            name="IngestLag", unit=MetricUnit.Seconds, value=report.max_ingest_lag_seconds
        )
    if report.skipped:
        metrics.add_metric(name="ItemsSkipped", unit=MetricUnit.Count, value=len(report.skipped))
    logger.info(
        "account polled",
        extra={
            "account": report.account_id,
            "fetched": report.fetched,
            "stored": report.stored,
            "already_stored": report.already_stored,
            "turns_opened": report.turns_opened,
            "pages": report.pages,
        },
    )


def _channel_of(account_id: str) -> str:
    """The account's channel for the PollErrors dimension; `unknown` when the config itself
    is what failed."""
    try:
        accounts = container().config().accounts
    except ReplySlaError:
        return "unknown"
    return next((a.channel for a in accounts if a.id == account_id), "unknown")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=poll_one, processor=processor, context=context
    )
