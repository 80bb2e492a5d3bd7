"""Every minute: queue a poll for each account that is due."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reply_sla.wiring import container, scheduled_time

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = container()
    report = app.dispatch(scheduled_time(event, app.clock))
    metrics.add_metric(name="PollsQueued", unit=MetricUnit.Count, value=len(report.queued))
    logger.info("polls queued", extra={"queued": len(report.queued), "accounts": report.accounts})
    return {"queued": report.queued}
