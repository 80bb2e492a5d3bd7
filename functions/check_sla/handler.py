"""Every minute: fire the ladder levels that are due, exactly once each."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reply_sla.observability import count_by
from reply_sla.services.poll_freshness import counting_minute, find_unpolled_accounts
from reply_sla.wiring import container, scheduled_time

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = container()
    now = scheduled_time(event, app.clock)
    report = app.check(now)
    count_by(metrics, name="Escalations", dimension="level", counts=report.by_level)
    # Every 5 minutes, for the ChannelNotPolled alarm (accounts not polled for 15 minutes).
    if counting_minute(now):
        unpolled = find_unpolled_accounts(app.config(), app.store, now)
        metrics.add_metric(name="AccountsNotPolled", unit=MetricUnit.Count, value=len(unpolled))
        if unpolled:
            logger.warning(
                "accounts not polled",
                extra={"accounts": {u.account_id: [u.channel, int(u.seconds)] for u in unpolled}},
            )
    logger.info("sla checked", extra=report.__dict__)
    return report.__dict__
