"""The functions' metrics that need a dimension of their own (escalations by level, poll errors
by channel).

A Powertools `Metrics` object applies its dimensions to every metric it flushes, so a metric
split by one more dimension goes out as its own embedded-metric-format line, with the function's
namespace and default dimensions (`service`), and not at all while metrics are disabled (tests,
the local demo), as `Metrics` itself behaves.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled


def count_by(metrics: Metrics, name: str, dimension: str, counts: Mapping[str, float]) -> None:
    """Publish `name` once per value of `dimension`, e.g. Escalations by level."""
    if is_metrics_disabled():
        return
    for value, count in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=dict(metrics.default_dimensions),
        ) as metric:
            metric.add_dimension(name=dimension, value=value)
