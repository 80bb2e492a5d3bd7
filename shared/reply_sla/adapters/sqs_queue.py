"""The poll queue between dispatch_polls and poll_account."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from reply_sla.ports import PollRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsPollQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, requests: list[PollRequest]) -> None:
        """Send in batches of 10 (SQS's limit); raise if any entry failed."""
        for start in range(0, len(requests), 10):
            batch = requests[start : start + 10]
            response = self._client.send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": json.dumps(
                            {"account_id": r.account_id, "requested_at": r.requested_at}
                        ),
                        "DelaySeconds": r.delay_seconds,
                    }
                    for i, r in enumerate(batch)
                ],
            )
            failed = response.get("Failed", [])
            if failed:
                raise RuntimeError(
                    f"SQS refused {len(failed)} poll request(s): {failed[0].get('Message')}"
                )
