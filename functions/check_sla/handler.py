"""Every minute: fire the ladder levels that are due, exactly once each."""

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
    report = app.check(scheduled_time(event, app.clock))
    for level, count in report.by_level.items():
        metrics.add_metric(name=f"Escalations_{level}", unit=MetricUnit.Count, value=count)
    logger.info("sla checked", extra=report.__dict__)
    return report.__dict__
