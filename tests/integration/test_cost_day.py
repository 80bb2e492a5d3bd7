"""The cost estimate's counting: DynamoDB capacity by DynamoDB's rules, a short day of the real
handlers on moto, and `replysla cost` printing the inputs, counts and total against the target."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from reply_sla.cli.main import main
from reply_sla.local import cost_day
from reply_sla.local.cost_day import CapacityMeter, TableShape, item_size, run_day
from reply_sla.services.cost import DayCounts, FunctionDay, StackFacts, Workload

SHAPE = TableShape(
    name="t", key=("pk", "sk"), indexes={"due": ("due_pk", "due_sk")}, ttl_attribute="expires_at"
)


class ReadBack:
    """Stands in for moto when the meter reads an updated item back."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> Any:
        return {"Item": self.items.get(Key["pk"]["S"])} if Key["pk"]["S"] in self.items else {}


def _item(pk: str, text_bytes: int, **extra: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "X"}, "text": {"S": "a" * text_bytes}, **extra}


def test_item_size_follows_dynamodbs_rules() -> None:
    # name bytes + value bytes; numbers: half their significant digits rounded up, plus one
    assert item_size({"pk": {"S": "abc"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"ok": {"BOOL": True}}) == 3
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def test_a_put_costs_a_unit_per_kilobyte_and_an_index_entry_another() -> None:
    meter = CapacityMeter(ReadBack(), SHAPE)
    # Given a 1.5 KB item that carries the due index keys
    item = _item("a", 1500, due_pk={"S": "DUE#0"}, due_sk={"S": "2026"})
    # When it is put
    meter.before_write("PutItem", {"Item": item})
    meter.after_write("PutItem", succeeded=True)
    # Then 2 units for the table and 2 for the index entry (item plus 100 bytes)
    assert meter.wru == 4
    # And the table grew by the item and its index copy
    assert meter.bytes_added == 2 * item_size(item) + 100


def test_a_transaction_doubles_the_table_writes() -> None:
    meter = CapacityMeter(ReadBack(), SHAPE)
    items = [{"Put": {"TableName": "t", "Item": _item(f"k{i}", 100)}} for i in range(3)]
    meter.before_write("TransactWriteItems", {"TransactItems": items})
    meter.after_write("TransactWriteItems", succeeded=True)
    assert meter.wru == 3 * 2


def test_an_update_moving_an_index_key_costs_a_delete_and_a_put_in_the_index() -> None:
    moto = ReadBack()
    meter = CapacityMeter(moto, SHAPE)
    before = _item("a", 10, due_pk={"S": "DUE#0"}, due_sk={"S": "1"})
    meter.before_write("PutItem", {"Item": before})
    meter.after_write("PutItem", succeeded=True)
    meter.wru = 0
    # When an update moves the item's due_sk
    moto.items["a"] = {**before, "due_sk": {"S": "2"}}
    meter.before_write("UpdateItem", {"Key": {"pk": {"S": "a"}, "sk": {"S": "X"}}})
    meter.after_write("UpdateItem", succeeded=True)
    # Then one table unit, and two index units (the old entry out, the new one in)
    assert meter.wru == 1 + 2


def test_a_failed_conditional_write_still_costs_its_table_units() -> None:
    meter = CapacityMeter(ReadBack(), SHAPE)
    meter.before_write("PutItem", {"Item": _item("a", 10)})
    meter.after_write("PutItem", succeeded=False)
    assert meter.wru == 1 and meter.bytes_added == 0


def test_reads_cost_half_a_unit_per_4kb_when_eventually_consistent() -> None:
    meter = CapacityMeter(ReadBack(), SHAPE)
    meter.before_write("PutItem", {"Item": _item("a", 5000)})
    meter.after_write("PutItem", succeeded=True)
    key = {"pk": {"S": "a"}, "sk": {"S": "X"}}
    meter.read("GetItem", {"Key": key}, {})
    meter.read("GetItem", {"Key": key, "ConsistentRead": True}, {})
    meter.read("Query", {"IndexName": "due"}, {"Items": []})
    assert meter.rru == 1.0 + 2.0 + 0.5


def test_a_short_day_on_moto_counts_every_kind_of_request() -> None:
    # Given two accounts and 1,000 inbound messages a day, 4 minutes counted after a warm-up
    result = run_day(
        Workload(accounts=2, inbound_per_day=1000, brands=1),
        minutes=4,
        warm_up=timedelta(minutes=30),
    )
    counts = result.counts
    # Then every minute ran dispatch, one poll per account and the check (scaled to a day)
    assert counts.functions["DispatchPollsFunction"].invocations == 1440
    assert counts.functions["PollAccountFunction"].invocations == 2 * 1440
    assert counts.functions["CheckSlaFunction"].invocations == 1440
    assert counts.functions["WeeklySummaryFunction"].invocations == pytest.approx(1 / 7)
    # And each poll read its cursor and wrote it back
    assert counts.requests["dynamodb.GetItem"] >= 2 * 1440
    assert counts.requests["dynamodb.PutItem"] >= 2 * 1440
    assert counts.requests["sqs.SendMessageBatch"] == 1440
    assert counts.dynamodb_wru > counts.requests["dynamodb.PutItem"]
    assert counts.dynamodb_rru > 0
    # And the metrics the handlers printed were seen, by series
    assert any("AccountsNotPolled" in series for series in counts.metric_hours)
    assert counts.log_bytes > 0
    assert result.stack.alarms >= 9 and result.stack.dashboards == 1


def _canned(*_: Any, **__: Any) -> cost_day.DayResult:
    counts = DayCounts(
        functions={"PollAccountFunction": FunctionDay(512, 14_400, 7_200_000)},
        requests={"sqs.ReceiveMessage": 2880},
        dynamodb_wru=150_000,
        dynamodb_rru=70_000,
        sns_publishes=1500,
        facts={"inbound": 100, "outbound": 60, "escalations": 25},
    )
    stack = StackFacts(9, 1, 1, 2880, {"PollAccountFunction": 5})
    return cost_day.DayResult(counts, stack, seconds=1.0, window_minutes=30)


def test_cost_prints_inputs_counts_and_total_and_fails_a_missed_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cost_day, "run_day", _canned)
    # When the estimate of a day with 11 secrets is printed
    code = main(["cost"])
    out = capsys.readouterr().out
    # Then it shows the inputs, the counts, the total and the target, and exits 1 (missed)
    assert "10 accounts in 2 brands" in out and "5,000 inbound messages a day" in out
    assert "PollAccountFunction: 14,400.0 invocations" in out
    assert "total:" in out and "target: < 5 USD" in out and "missed:" in out
    assert "https://aws.amazon.com/secrets-manager/pricing/" in out
    assert code == 1


def test_cost_json_reports_both_totals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cost_day, "run_day", _canned)
    code = main(["cost", "--json", "--secrets", "1", "--free-tier"])
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"]["secrets"] == 1 and report["target_applies_to"] == "free_tier"
    assert report["total_free_tier_usd"] <= report["total_list_usd"]
    assert code == (0 if report["total_free_tier_usd"] < 5 else 1)


def test_cost_refuses_nonsense_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--accounts", "0"]) == 2
    assert "--accounts: at least 1" in capsys.readouterr().err
