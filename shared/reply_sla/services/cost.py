"""The monthly AWS cost of a deployed stack: counted requests times published prices.

`reply_sla.local.cost_day` runs the real handlers on moto for a representative day and counts
what they ask of AWS (DayCounts). This module turns a day into a month (MonthlyUsage), adds what
a day on moto cannot show (how often the SQS event source polls, cold starts, secrets held,
alarms and dashboards declared), and prices every line at the us-east-1 list prices below, with
and without the AWS always-free tier. `replysla cost` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from reply_sla.domain.notices import MANAGERS, TEAM

REGION = "us-east-1"
#: When the prices below were taken from the pages they cite (AWS list prices, USD).
PRICES_AS_OF = "2026-11"
#: 730 hours, AWS's month for prorating.
DAYS_PER_MONTH = 730 / 24
TARGET_USD = 5.0


@dataclass(frozen=True)
class Price:
    """A list price: `usd` for every `per` units, after `free` units a month (always-free tier;
    0 where AWS gives none or only to new accounts for 12 months)."""

    service: str
    item: str
    usd: float
    per: float
    unit: str
    source: str
    free: float = 0.0


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"

PRICES: dict[str, Price] = {
    "lambda_requests": Price("Lambda", "requests", 0.20, 1e6, "requests", _LAMBDA, free=1_000_000),
    "lambda_gb_seconds": Price(
        "Lambda", "duration (x86)", 0.0000166667, 1, "GB-s", _LAMBDA, free=400_000
    ),
    "dynamodb_wru": Price("DynamoDB", "write request units", 0.625, 1e6, "WRU", _DDB),
    "dynamodb_rru": Price("DynamoDB", "read request units", 0.125, 1e6, "RRU", _DDB),
    "dynamodb_storage": Price("DynamoDB", "storage", 0.25, 1, "GB-month", _DDB, free=25),
    "dynamodb_pitr": Price("DynamoDB", "point-in-time recovery", 0.20, 1, "GB-month", _DDB),
    "sqs_requests": Price(
        "SQS",
        "standard queue requests",
        0.40,
        1e6,
        "requests",
        "https://aws.amazon.com/sqs/pricing/",
        free=1_000_000,
    ),
    "sns_publishes": Price(
        "SNS",
        "publishes",
        0.50,
        1e6,
        "requests",
        "https://aws.amazon.com/sns/pricing/",
        free=1_000_000,
    ),
    "sns_email": Price(
        "SNS",
        "e-mail deliveries",
        2.00,
        1e5,
        "e-mails",
        "https://aws.amazon.com/sns/pricing/",
        free=1_000,
    ),
    "s3_storage": Price(
        "S3", "Standard storage", 0.023, 1, "GB-month", "https://aws.amazon.com/s3/pricing/"
    ),
    "s3_put_list": Price(
        "S3", "PUT, COPY, POST, LIST", 0.005, 1e3, "requests", "https://aws.amazon.com/s3/pricing/"
    ),
    "s3_get": Price(
        "S3", "GET and others", 0.0004, 1e3, "requests", "https://aws.amazon.com/s3/pricing/"
    ),
    "kms_keys": Price(
        "KMS", "customer managed keys", 1.00, 1, "keys", "https://aws.amazon.com/kms/pricing/"
    ),
    "kms_requests": Price(
        "KMS",
        "requests",
        0.03,
        1e4,
        "requests",
        "https://aws.amazon.com/kms/pricing/",
        free=20_000,
    ),
    "secrets": Price(
        "Secrets Manager",
        "secrets",
        0.40,
        1,
        "secret-months",
        "https://aws.amazon.com/secrets-manager/pricing/",
    ),
    "secrets_api": Price(
        "Secrets Manager",
        "API calls",
        0.05,
        1e4,
        "calls",
        "https://aws.amazon.com/secrets-manager/pricing/",
    ),
    "cw_metrics": Price("CloudWatch", "custom metrics", 0.30, 1, "metric-months", _CW, free=10),
    "cw_alarms": Price("CloudWatch", "standard alarms", 0.10, 1, "alarm metrics", _CW, free=10),
    "cw_dashboards": Price("CloudWatch", "dashboards", 3.00, 1, "dashboards", _CW, free=3),
    "cw_logs_ingest": Price("CloudWatch", "logs ingested", 0.50, 1, "GB", _CW, free=5),
    "cw_logs_storage": Price("CloudWatch", "logs stored", 0.03, 1, "GB-month", _CW),
    "scheduler": Price(
        "EventBridge Scheduler",
        "invocations",
        1.00,
        1e6,
        "invocations",
        "https://aws.amazon.com/eventbridge/pricing/",
        free=14_000_000,
    ),
    "http_api": Price(
        "API Gateway",
        "HTTP API requests",
        1.00,
        1e6,
        "requests",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
}


# ----------------------------------------------------------------------------- what was counted


@dataclass
class FunctionDay:
    """One function's invocations in the counted day and their billed duration."""

    memory_mb: int
    invocations: float = 0
    billed_ms: float = 0

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


@dataclass
class DayCounts:
    """What the handlers asked of AWS in one representative day, counted on moto."""

    functions: dict[str, FunctionDay] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)  # "dynamodb.Query" -> count
    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0
    #: Bytes the table (with its index copies) grew by in the day.
    dynamodb_bytes_added: int = 0
    #: Bytes of items written with a TTL (they stop growing the table after the retention).
    dynamodb_bytes_expiring: int = 0
    #: The same without index copies: the table's own size, on which PITR is billed (0 = unknown,
    #: then the size with index copies is used).
    dynamodb_base_bytes_added: int = 0
    dynamodb_base_bytes_expiring: int = 0
    sns_publishes: int = 0
    #: Publishes by their `audience` attribute ("team", "managers"; one for both counts in
    #: each): who is e-mailed. Empty when not counted: every publish then goes to managers.
    sns_audience_publishes: dict[str, float] = field(default_factory=dict)
    s3_bytes_per_week: int = 0
    #: (metric, dimensions) -> hours of the day in which it was published.
    metric_hours: dict[str, float] = field(default_factory=dict)
    log_bytes: int = 0
    #: Facts of the day, for the report (inbound messages, turns, escalations by level ...).
    facts: dict[str, float] = field(default_factory=dict)

    def service_requests(self, service: str, operations: tuple[str, ...] = ()) -> int:
        return sum(
            count
            for name, count in self.requests.items()
            if name.split(".", 1)[0] == service
            and (not operations or name.split(".", 1)[1] in operations)
        )


@dataclass(frozen=True)
class Workload:
    """The inputs of an estimate."""

    accounts: int = 10
    inbound_per_day: int = 5000
    brands: int = 2
    #: E-mail subscribers who receive each escalation of their brand past its window.
    managers_per_brand: int = 2
    #: E-mail subscribers of the team's audience (warnings before the deadline): a shared inbox.
    team_emails_per_brand: int = 1
    #: Secrets Manager secrets: the accounts' credentials in one shared secret, an entry per
    #: account (what `replysla channels add` makes: docs/configuration.md), plus the signing key.
    secrets: int | None = None
    retention_days: int = 400
    log_retention_days: int = 30

    @property
    def secret_count(self) -> int:
        return self.secrets if self.secrets is not None else 2


@dataclass(frozen=True)
class StackFacts:
    """What the template declares that costs money whatever the traffic."""

    alarms: int
    dashboards: int
    kms_keys: int
    schedules_per_day: float
    #: Warm environments kept per function (poll_account runs several polls at once).
    environments: Mapping[str, int]


# ----------------------------------------------------------------------------- the model

#: Lambda's SQS event source long-polls with five pollers while the queue is idle, each poll
#: waiting up to 20 s: 15 ReceiveMessage requests a minute (AWS Lambda developer guide, "Using
#: Lambda with Amazon SQS", scaling and processing).
ESM_IDLE_RECEIVES_PER_MINUTE = 5 * 60 / 20
#: An execution environment is replaced every few hours even when busy; counted as 2 hours.
ENVIRONMENT_HOURS = 2.0
#: Seconds of INIT billed per cold start (the layer imports precompiled; tests/infra measures).
INIT_SECONDS = 1.0
#: Platform log lines (START, END, REPORT) per invocation.
PLATFORM_LOG_BYTES = 330
#: SNS reuses a topic's data key for up to 5 minutes; each new key is one GenerateDataKey and
#: one Decrypt for delivery.
KMS_REQUESTS_PER_KEY_PERIOD = 2
KMS_KEY_PERIODS_PER_DAY = 24 * 60 / 5
#: Share of escalations whose e-mail links are used (a GET of the page and a POST).
ACTIONS_CLICKED = 0.1
GB = 1024**3
#: Seconds the check and action functions keep the signing keyring they read
#: (reply_sla.adapters.action_key.KEY_MAX_AGE).
KEY_CACHE_SECONDS = 300.0


def _clicks_per_day(day: DayCounts) -> float:
    """Requests to the action API a day: a GET and a POST for each clicked escalation (of the
    day's; `escalations` alone is the counted stretch's)."""
    escalations = day.facts.get("escalations_per_day", day.facts.get("escalations", 0))
    return escalations * ACTIONS_CLICKED * 2


def secret_reads_per_day(day: DayCounts, workload: Workload, stack: StackFacts) -> float:
    """GetSecretValue calls a day.

    A poll environment reads an account's credentials when it first builds the account's client
    and keeps the client while it lives (reply_sla.wiring.Container.channel_client): each
    environment reads each channel secret about once per lifetime (accounts sharing a secret are
    served from Powertools' cache). The check and action functions read the signing keyring
    again once their copy is KEY_CACHE_SECONDS old and a link is to be signed or checked.
    """
    renewals = 24 / ENVIRONMENT_HOURS
    channel_secrets = min(max(1, workload.secret_count - 1), workload.accounts)
    reads = stack.environments.get("PollAccountFunction", 0) * channel_secrets * renewals
    periods = 24 * 3600 / KEY_CACHE_SECONDS
    clicks = _clicks_per_day(day)
    for environments, uses in (
        (stack.environments.get("CheckSlaFunction", 0), float(day.sns_publishes)),
        (stack.environments.get("TurnActionFunction", 0), clicks),
    ):
        if environments:
            reads += environments * min(periods, uses / environments)
    return reads


@dataclass(frozen=True)
class UsageLine:
    key: str
    quantity: float
    how: str


def monthly_usage(day: DayCounts, workload: Workload, stack: StackFacts) -> list[UsageLine]:
    """A month of the counted day, plus what the day cannot show, as quantities per price key."""
    m = DAYS_PER_MONTH
    lines: list[UsageLine] = []
    invocations = sum(f.invocations for f in day.functions.values())
    cold_starts_per_day = sum(stack.environments.values()) * 24 / ENVIRONMENT_HOURS
    lines.append(
        UsageLine(
            "lambda_requests",
            invocations * m,
            f"{invocations:,.0f} invocations counted in the day x {m:.1f} days",
        )
    )
    gb_s = sum(f.gb_seconds for f in day.functions.values())
    init_gb_s = sum(
        day.functions[name].memory_mb / 1024 * INIT_SECONDS * count * 24 / ENVIRONMENT_HOURS
        for name, count in stack.environments.items()
        if name in day.functions
    )
    lines.append(
        UsageLine(
            "lambda_gb_seconds",
            (gb_s + init_gb_s) * m,
            f"{gb_s:,.0f} GB-s of billed duration in the day + {init_gb_s:,.0f} GB-s of INIT "
            f"({cold_starts_per_day:.0f} cold starts a day)",
        )
    )
    lines.append(
        UsageLine(
            "dynamodb_wru",
            day.dynamodb_wru * m,
            f"{day.dynamodb_wru:,.0f} WRU in the day (item sizes, transactions x2, index writes)",
        )
    )
    lines.append(
        UsageLine(
            "dynamodb_rru",
            day.dynamodb_rru * m,
            f"{day.dynamodb_rru:,.0f} RRU in the day (4 KB units; eventually consistent x0.5)",
        )
    )
    # Messages expire after the retention; the rest (threads, turns, events) stays. The month
    # priced is the twelfth, the most expensive of the first year.
    expiring = day.dynamodb_bytes_expiring
    lasting = day.dynamodb_bytes_added - expiring
    days_kept = 365
    stored_gb = (lasting * days_kept + expiring * min(days_kept, workload.retention_days)) / GB
    lines.append(
        UsageLine(
            "dynamodb_storage",
            stored_gb,
            f"{day.dynamodb_bytes_added / 1e6:.1f} MB a day with index copies, after a year",
        )
    )
    if day.dynamodb_base_bytes_added:
        base_expiring = day.dynamodb_base_bytes_expiring
        base_lasting = day.dynamodb_base_bytes_added - base_expiring
        table_gb = (
            base_lasting * days_kept + base_expiring * min(days_kept, workload.retention_days)
        ) / GB
    else:
        table_gb = stored_gb
    lines.append(
        UsageLine(
            "dynamodb_pitr",
            table_gb,
            "the table's own size after a year (PITR is billed on table data and local "
            "secondary indexes, not global ones: DynamoDB developer guide, "
            "PointInTimeRecovery_Howitworks)",
        )
    )
    sqs_counted = day.service_requests("sqs")
    idle_receives = ESM_IDLE_RECEIVES_PER_MINUTE * 24 * 60
    lines.append(
        UsageLine(
            "sqs_requests",
            (sqs_counted + idle_receives) * m,
            f"{sqs_counted:,} sends, receives and deletes counted + {idle_receives:,.0f} "
            "event-source long polls a day",
        )
    )
    lines.append(
        UsageLine(
            "sns_publishes", day.sns_publishes * m, f"{day.sns_publishes:,} publishes in the day"
        )
    )
    if day.sns_audience_publishes:
        to_managers = day.sns_audience_publishes.get(MANAGERS, 0)
        to_team = day.sns_audience_publishes.get(TEAM, 0)
        emails = (
            to_managers * workload.managers_per_brand + to_team * workload.team_emails_per_brand
        )
        how = (
            f"{to_managers:,.0f} publishes a day past the window e-mailed to "
            f"{workload.managers_per_brand} managers of the brand, {to_team:,.0f} warnings to "
            f"{workload.team_emails_per_brand} team address(es)"
        )
    else:
        emails = day.sns_publishes * workload.managers_per_brand
        how = f"each publish e-mailed to {workload.managers_per_brand} managers of its brand"
    lines.append(UsageLine("sns_email", emails * m, how))
    weeks_kept = 730 / 7
    lines.append(
        UsageLine(
            "s3_storage",
            day.s3_bytes_per_week * weeks_kept / GB,
            f"{day.s3_bytes_per_week / 1e3:.0f} KB of summaries a week, kept 2 years",
        )
    )
    lines.append(
        UsageLine(
            "s3_put_list",
            day.service_requests("s3", ("PutObject", "ListObjectsV2", "CopyObject")) * m,
            "summary files written (the weekly run, counted once per counted day as a week's "
            "worth of items)",
        )
    )
    lines.append(
        UsageLine(
            "s3_get",
            (day.service_requests("s3") - day.service_requests("s3", ("PutObject",))) * m,
            "downloads and other reads",
        )
    )
    kms_requests = KMS_REQUESTS_PER_KEY_PERIOD * min(
        float(day.sns_publishes), KMS_KEY_PERIODS_PER_DAY
    )
    lines.append(
        UsageLine(
            "kms_keys",
            stack.kms_keys,
            "customer managed keys the template creates (none with the default TopicKey "
            "aws-managed; one with customer-managed)",
        )
    )
    lines.append(
        UsageLine(
            "kms_requests",
            kms_requests * m,
            "SNS data keys of the encrypted topic's key (reused up to 5 minutes)",
        )
    )
    lines.append(
        UsageLine(
            "secrets",
            workload.secret_count,
            f"{workload.secret_count} secrets (channel credentials and the action signing key)",
        )
    )
    lines.append(
        UsageLine(
            "secrets_api",
            secret_reads_per_day(day, workload, stack) * m,
            "each poll environment reads each channel secret once in its life; the check and "
            f"the action function re-read the signing key every {KEY_CACHE_SECONDS:.0f} s "
            "while they sign or check links",
        )
    )
    metric_months = sum(day.metric_hours.values()) / 24
    lines.append(
        UsageLine(
            "cw_metrics",
            metric_months,
            f"{len(day.metric_hours)} metric series, prorated by the hours they were published",
        )
    )
    lines.append(UsageLine("cw_alarms", stack.alarms, "alarms in infra/observability.yaml"))
    lines.append(UsageLine("cw_dashboards", stack.dashboards, "dashboards"))
    log_bytes = day.log_bytes + invocations * PLATFORM_LOG_BYTES
    lines.append(
        UsageLine(
            "cw_logs_ingest",
            log_bytes * m / GB,
            f"{log_bytes / 1e6:.1f} MB of logs and metrics a day",
        )
    )
    lines.append(
        UsageLine(
            "cw_logs_storage",
            log_bytes * min(workload.log_retention_days, m) / GB,
            f"kept {workload.log_retention_days} days",
        )
    )
    lines.append(
        UsageLine(
            "scheduler",
            stack.schedules_per_day * m,
            f"{stack.schedules_per_day:,.0f} schedule runs a day",
        )
    )
    clicks = _clicks_per_day(day)
    lines.append(
        UsageLine("http_api", clicks * m, "a tenth of the escalations clicked: GET and POST")
    )
    return lines


@dataclass(frozen=True)
class CostLine:
    key: str
    service: str
    item: str
    quantity: float
    unit: str
    list_usd: float
    free_tier_usd: float
    how: str


def price(lines: list[UsageLine], prices: Mapping[str, Price] = PRICES) -> list[CostLine]:
    """Each usage line at its list price, and after the always-free tier."""
    priced = []
    for line in lines:
        p = prices[line.key]
        list_usd = line.quantity / p.per * p.usd
        free_usd = max(0.0, line.quantity - p.free) / p.per * p.usd
        priced.append(
            CostLine(
                line.key, p.service, p.item, line.quantity, p.unit, list_usd, free_usd, line.how
            )
        )
    return priced


@dataclass(frozen=True)
class Estimate:
    workload: Workload
    day: DayCounts
    lines: list[CostLine]

    @property
    def list_total(self) -> float:
        return math.fsum(line.list_usd for line in self.lines)

    @property
    def free_tier_total(self) -> float:
        return math.fsum(line.free_tier_usd for line in self.lines)

    def by_service(self) -> dict[str, tuple[float, float]]:
        totals: dict[str, tuple[float, float]] = {}
        for line in self.lines:
            before = totals.get(line.service, (0.0, 0.0))
            totals[line.service] = (before[0] + line.list_usd, before[1] + line.free_tier_usd)
        return totals


def estimate(day: DayCounts, workload: Workload, stack: StackFacts) -> Estimate:
    return Estimate(workload, day, price(monthly_usage(day, workload, stack)))
