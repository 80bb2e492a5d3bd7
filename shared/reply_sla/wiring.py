"""The composition root: real adapters built from settings, lazily, once per warm container.

Handlers ask `container()` for what they need; the local stack and tests install their own
container with `use_container()` (a simulated clock, a fake channel server, a local endpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from reply_sla.config import AccountConfig, MonitorConfig
from reply_sla.domain.alerts import AlertHours
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import Turn
from reply_sla.domain.policy import PolicyBook, Triage
from reply_sla.errors import ReplySlaError
from reply_sla.ports import ChannelClient, ConfigSource, SecretSource, ThreadStore
from reply_sla.services.checking import ActionLinks, BrandView, CheckReport, check_sla
from reply_sla.services.dispatch import DispatchReport, dispatch_polls
from reply_sla.services.health import check_channels
from reply_sla.services.polling import PollReport, poll_account
from reply_sla.services.summary import SummaryReport, brand_calendar, build_weekly_summary
from reply_sla.settings import Settings

# The parsed config is kept this long; SSM reads are cached for longer by Powertools.
CONFIG_SECONDS = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Adapters and use-cases wired for one environment."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _utc_now,
        config_source: ConfigSource | None = None,
        secrets: SecretSource | None = None,
        channel_factory: Callable[[AccountConfig, dict[str, str]], ChannelClient] | None = None,
        session: Any | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._config_source = config_source
        self._secrets = secrets
        self._channel_factory = channel_factory
        self._session = session
        self._clients: dict[str, Any] = {}
        self._channels: dict[tuple[str, str], ChannelClient] = {}
        self._config: tuple[float, MonitorConfig] | None = None

    def _client(self, service: str) -> Any:
        """One boto3 client per service for the life of the container (they are costly to make)."""
        if service not in self._clients:
            from reply_sla.adapters.aws import client

            self._clients[service] = client(service, self.settings.endpoint_url, self._session)
        return self._clients[service]

    @cached_property
    def config_source(self) -> ConfigSource:
        if self._config_source is not None:
            return self._config_source
        from reply_sla.adapters.config_source import FileConfigSource, SsmConfigSource

        if self.settings.config_file:
            return FileConfigSource(self.settings.config_file)
        self.settings.require("config_parameter")
        return SsmConfigSource(self.settings.config_parameter)

    def config(self) -> MonitorConfig:
        """The validated config, re-read at most once a minute of wall time."""
        import time

        if self._config is None or time.monotonic() - self._config[0] > CONFIG_SECONDS:
            config = self.config_source.load()
            if self._config is None or config != self._config[1]:
                self._engine = PolicyEngine.from_config(config)
            self._config = (time.monotonic(), config)
        return self._config[1]

    @property
    def policy(self) -> PolicyBook:
        self.config()
        return self._engine.book

    @property
    def triage(self) -> Triage:
        self.config()
        return self._engine.triage

    @property
    def alert_hours(self) -> AlertHours | None:
        self.config()
        return self._engine.alert_hours

    @cached_property
    def store(self) -> ThreadStore:
        from reply_sla.adapters.dynamodb_store import DynamoThreadStore

        def zone_of(brand: str) -> str:
            brands = self.config().brands
            return brands[brand].timezone if brand in brands else "UTC"

        return DynamoThreadStore(
            self._client("dynamodb"),
            self.settings.table_name,
            zone_of=zone_of,
            due_shards=self.settings.due_shards,
            retention_days=self.settings.retention_days,
        )

    def channel_client(self, account: AccountConfig) -> ChannelClient:
        """A client per account, kept while its settings are unchanged (its session and the
        brand's resolved identity are reused across polls)."""
        key = (account.id, account.model_dump_json())
        if key not in self._channels:
            self._channels = {k: v for k, v in self._channels.items() if k[0] != account.id}
            self._channels[key] = self._new_channel_client(account)
        return self._channels[key]

    def _new_channel_client(self, account: AccountConfig) -> ChannelClient:
        credentials = account.credentials
        if credentials is None:
            if self._secrets is None:
                from reply_sla.adapters.config_source import SecretsManagerSource

                self._secrets = SecretsManagerSource()
            credentials = self._secrets.credentials(account.secret or "")
        if self._channel_factory is not None:
            return self._channel_factory(account, credentials)
        from reply_sla.adapters.channels import build_channel_client

        return build_channel_client(account, credentials)

    def brand_view(self, brand: str) -> BrandView:
        config = self.config().brands.get(brand)
        return BrandView(
            name=config.name if config else brand, timezone=config.timezone if config else "UTC"
        )

    # -- use-cases, as the handlers call them ---------------------------------------------------

    def dispatch(self, now: datetime) -> DispatchReport:
        from reply_sla.adapters.sqs_queue import SqsPollQueue

        self.settings.require("poll_queue_url")
        config = self.config()
        last = self.store.last_polls([a.id for a in config.accounts])
        queue = SqsPollQueue(self._client("sqs"), self.settings.poll_queue_url)
        return dispatch_polls(config, last, queue, now)

    def poll(
        self, account_id: str, now: datetime, polled_for: datetime | None = None
    ) -> PollReport:
        account = self.config().account(account_id)
        try:
            return poll_account(
                account,
                self.channel_client(account),
                self.store,
                self.policy,
                self.triage,
                now,
                polled_for,
            )
        except ReplySlaError as exc:
            # The health check reads this: a refused token is reported to managers at once.
            self.store.record_poll_error(account_id, type(exc).__name__, str(exc), now)
            raise

    def notifier(self) -> Any:
        from reply_sla.adapters.sns_notifier import SnsNotifier

        self.settings.require("topic_arn")
        return SnsNotifier(self._client("sns"), self.settings.topic_arn)

    def check(self, now: datetime) -> CheckReport:
        """Fire due ladder levels, then report accounts that stopped being monitored."""
        from reply_sla.services.actions import resume_ended_snoozes

        notifier = self.notifier()
        resume_ended_snoozes(self.store, self.policy, now)
        report = check_sla(
            self.store,
            notifier,
            self.policy,
            self.brand_view,
            now,
            self.alert_hours,
            actions=self.action_links(),
        )
        health = check_channels(self.config(), self.store, notifier, now)
        report.channels_down = health.down
        return report

    def action_keys(self) -> Any:
        """The signing keys of the action links (Secrets Manager, cached per container)."""
        from reply_sla.adapters.action_key import action_keys

        self.settings.require("action_key_secret_arn")
        return action_keys(self.settings.action_key_secret_arn, self.settings.endpoint_url)

    def action_links(self) -> ActionLinks | None:
        """Signed snooze / handled links for the e-mails, when the stack has the action API."""
        if not (self.settings.action_url and self.settings.action_key_secret_arn):
            return None
        from reply_sla.domain.action_tokens import action_links

        keys = self.action_keys()
        url = self.settings.action_url

        def links(turn: Turn, now: datetime) -> list[tuple[str, str]]:
            return action_links(turn.key, url, keys.keyring().current, now)

        return links

    def summarize(
        self, brand: str, week: str, now: datetime, *, notify: bool = True
    ) -> SummaryReport:
        from reply_sla.adapters.s3_reports import S3ReportStore

        self.settings.require("bucket_name")
        view = self.brand_view(brand)
        return build_weekly_summary(
            brand,
            view.name,
            view.timezone,
            week,
            self.store,
            S3ReportStore(self._client("s3"), self.settings.bucket_name),
            self.notifier() if notify else None,
            now,
            business_elapsed=brand_calendar(self.config(), brand),
        )

    def summarize_last_week(self, now: datetime) -> list[SummaryReport]:
        """Every brand's summary of the last complete ISO week in the brand's time zone."""
        from reply_sla.domain.weeks import previous_week

        reports = []
        for brand, config in self.config().brands.items():
            reports.append(self.summarize(brand, previous_week(now, config.timezone), now))
        return reports


_current: Container | None = None


def container() -> Container:
    """The container of this warm Lambda container (built on first use, from the environment)."""
    global _current
    if _current is None:
        _current = Container(Settings.from_env())
    return _current


def use_container(replacement: Container | None) -> None:
    """Install a container (local stack, tests); None goes back to building from the environment."""
    global _current
    _current = replacement


def scheduled_time(event: dict[str, Any], clock: Callable[[], datetime]) -> datetime:
    """The schedule's own time (Scheduler's <aws.scheduler.scheduled-time>), else the clock."""
    value = event.get("scheduled_time") if isinstance(event, dict) else None
    if isinstance(value, str) and value and not value.startswith("<"):
        from reply_sla.domain.weeks import parse_iso

        return parse_iso(value)
    return clock()
