"""SNS notifications rendered as the e-mail an e-mail subscriber receives."""

from __future__ import annotations

import email.policy
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from reply_sla.domain.weeks import parse_iso

_FOOTER = (
    "\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the "
    "link below to unsubscribe:\n{unsubscribe}\n\nPlease do not reply directly to this email. If "
    "you have any questions or comments regarding this email, please contact us at "
    "https://aws.amazon.com/support\n"
)


def sns_email(
    notification: dict[str, Any],
    address: str,
    subscription_arn: str,
    region: str,
    sent_at: datetime | None = None,
) -> bytes:
    """The MIME message SNS sends for one notification (plain text, subject from `Subject`).

    `sent_at` overrides the notification's timestamp (a simulated clock)."""
    # Lines up to RFC 5322's 998 characters, so a subject is never folded onto a second line.
    mail = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    mail["From"] = "AWS Notifications <no-reply@sns.amazonaws.com>"
    mail["To"] = address
    mail["Subject"] = notification.get("Subject") or "AWS Notification Message"
    timestamp = notification.get("Timestamp")
    if sent_at is not None:
        mail["Date"] = format_datetime(sent_at)
    elif timestamp:
        mail["Date"] = format_datetime(parse_iso(str(timestamp)))
    unsubscribe = (
        f"https://sns.{region}.amazonaws.com/unsubscribe.html?SubscriptionArn="
        f"{quote(subscription_arn, safe='')}&Endpoint={quote(address, safe='')}"
    )
    body = str(notification.get("Message", "")) + _FOOTER.format(unsubscribe=unsubscribe)
    # 8bit keeps the file readable; a line longer than SMTP allows (a presigned link) needs
    # quoted-printable, which wraps it and which every mail client decodes.
    long_line = any(len(line.encode()) > 998 for line in body.splitlines())
    mail.set_content(body, cte="quoted-printable" if long_line else "8bit")
    return bytes(mail)
