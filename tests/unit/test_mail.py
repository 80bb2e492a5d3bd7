"""The e-mail an SNS e-mail subscriber receives, as the local stack renders it."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from reply_sla.local.mail import sns_email

TOPIC = "arn:aws:sns:eu-west-1:000000000000:replysla-escalations"
SUBSCRIPTION = TOPIC + ":1b2c3d4e"
NOTIFICATION = {
    "Subject": "[replysla] @ana waited 3h 12m on Mastodon (Acme García)",
    "Message": "Acme: a customer on Mastodon has waited 3h 12m.\n\n  > ¿Dónde está mi pedido?\n",
    "Timestamp": "2026-11-16T09:00:00.000Z",
}


def _mail(notification=NOTIFICATION, **kw) -> EmailMessage:
    raw = sns_email(notification, "manager@acme.example", SUBSCRIPTION, "eu-west-1", **kw)
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def mail_date(mail: EmailMessage) -> datetime:
    return mail["Date"].datetime


def test_headers_are_those_sns_sends():
    # Given a notification with a subject, When it is rendered as e-mail
    mail = _mail()
    # Then it comes from SNS, goes to the subscriber and keeps the subject, accents included
    assert mail["From"] == "AWS Notifications <no-reply@sns.amazonaws.com>"
    assert mail["To"] == "manager@acme.example"
    assert mail["Subject"] == NOTIFICATION["Subject"]


def test_subject_defaults_when_the_notification_has_none():
    # Given a notification without a subject, When rendered, Then SNS's default subject is used
    mail = _mail({"Message": "hello", "Timestamp": NOTIFICATION["Timestamp"]})
    assert mail["Subject"] == "AWS Notification Message"


def test_date_is_the_notification_timestamp():
    # Given a notification published at 09:00 UTC, When rendered, Then the Date header says so
    assert mail_date(_mail()) == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_sent_at_overrides_the_date():
    # Given a simulated clock, When the e-mail is rendered with it, Then the Date is that instant
    sent_at = datetime(2026, 11, 20, 17, 45, tzinfo=UTC)
    assert mail_date(_mail(sent_at=sent_at)) == sent_at


def test_body_is_the_message_then_the_unsubscribe_footer():
    # Given a notification, When rendered
    body = _mail().get_content()
    # Then the body is the message, accents intact, followed by SNS's footer and a link that
    # names this subscription and address
    assert body.startswith(NOTIFICATION["Message"])
    assert "If you wish to stop receiving notifications from this topic" in body
    assert (
        "https://sns.eu-west-1.amazonaws.com/unsubscribe.html?SubscriptionArn="
        "arn%3Aaws%3Asns%3Aeu-west-1%3A000000000000%3Areplysla-escalations%3A1b2c3d4e"
        "&Endpoint=manager%40acme.example"
    ) in body


def test_body_is_plain_text():
    # Given a notification, When rendered, Then it is one text/plain part in UTF-8
    mail = _mail()
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
