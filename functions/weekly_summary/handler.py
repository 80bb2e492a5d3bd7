"""Every Monday: each brand's summary of last week to S3, and a notice with a download link."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from reply_sla.wiring import container, scheduled_time

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = container()
    reports = app.summarize_last_week(scheduled_time(event, app.clock))
    for report in reports:
        logger.info(
            "summary written",
            extra={
                "brand": report.brand,
                "week": report.week,
                "items_read": report.items_read,
                "requests": report.requests,
                "html_bytes": report.file_bytes.get("summary.html"),
                "link_expires_at": report.link_expires_at.isoformat()
                if report.link_expires_at
                else None,
            },
        )
    return {"summaries": [report.prefix for report in reports]}
