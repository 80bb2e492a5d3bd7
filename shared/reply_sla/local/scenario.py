"""A scripted week of customer conversations on a fake Mastodon server, for the demo and tests.

Deterministic for a seed: the same week gives the same threads, so the demo's figures can be
checked. Every kind of conversation the monitor must judge is in it: answered fast, answered late,
never answered, a follow-up after a reply (a next-response turn), a thanks after a reply, a
conversation started by the brand, private mentions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reply_sla.local.fake_mastodon import FakeMastodon

QUESTIONS = [
    "Hi @acme, my order #{n} has not arrived yet. Any news?",
    "@acme the app keeps crashing when I open my basket, is it broken?",
    "@acme how do I change the delivery address on an order?",
    "@acme I was charged twice for the same order, I want a refund.",
    "Is the Madrid store open on Sunday? @acme",
    "@acme do you ship to the Canary Islands?",
    "@acme my discount code SAVE{n} does not work at checkout",
    "@acme hola, ¿dónde está mi pedido {n}? No funciona el seguimiento.",
    "@acme can I return a gift without the receipt?",
    "@acme your website says in stock but the store says no <b>stock</b> & no date",
]
FOLLOW_UPS = [
    "@acme thanks, but the tracking link still shows nothing.",
    "@acme that did not help, the problem is still there.",
    "@acme one more question: can I pick it up in store instead?",
]
REPLIES = [
    "Hi! Sorry about that. We have checked and your parcel leaves today.",
    "Thanks for telling us. Could you send us a DM with your order number?",
    "Yes, you can change it from My orders > Edit until it ships.",
    "We have refunded the duplicate charge; you will see it in 3-5 days.",
]


@dataclass(frozen=True)
class ScriptedThread:
    kind: str
    root_id: str
    customer: str


@dataclass
class Scenario:
    """What was scripted, so a demo or a test can compare the monitor's view with the truth."""

    brand_account_id: str
    brand_token: str
    start: datetime
    end: datetime
    threads: list[ScriptedThread] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for t in self.threads if t.kind == kind)


def _business_moment(rng: random.Random, day_start: datetime) -> datetime:
    """Mostly daytime local hours, a few late evenings (customers do not keep office hours)."""
    hour = rng.choice([8, 9, 10, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 23])
    return day_start + timedelta(hours=hour, minutes=rng.randrange(60))


def script_week(
    fake: FakeMastodon,
    week_start: datetime,
    *,
    timezone: str = "Europe/Madrid",
    threads: int = 56,
    seed: int = 7,
) -> Scenario:
    """Load a week of conversations into the fake server; `week_start` is Monday 00:00 local."""
    rng = random.Random(seed)
    zone = ZoneInfo(timezone)
    start = week_start.astimezone(zone)
    brand = fake.add_account("acme", "ACME Support")
    token = fake.issue_token(brand["id"])
    scenario = Scenario(
        brand_account_id=brand["id"],
        brand_token=token,
        start=start,
        end=start + timedelta(days=7),
    )
    customers = [
        fake.add_account(name, display)
        for name, display in [
            ("lucia", "Lucía Fernández"),
            ("tom", "Tom Baker"),
            ("amira", "Amira K."),
            ("jorge", "Jorge 🚲"),
            ("sam@other.example", "Sam O."),
            ("li", "Li Wei"),
            ("noor", "Noor"),
            ("pat", "Pat ‮Evil‬ Name"),
            ("marta", "Marta Ruiz"),
            ("ken@mastodon.example", "Ken"),
        ]
    ]
    kinds = (
        ["fast"] * 24
        + ["late"] * 10
        + ["never"] * 8
        + ["follow_up"] * 8
        + ["thanks"] * 3
        + ["brand_started"] * 2
        + ["private"] * 1
    )
    while len(kinds) < threads:
        kinds.append(rng.choice(["fast", "late", "never"]))
    rng.shuffle(kinds)
    for index, kind in enumerate(kinds[:threads]):
        day = start + timedelta(days=index * 7 // threads)
        asked = _business_moment(rng, day)
        customer = customers[index % len(customers)]
        text = rng.choice(QUESTIONS).format(n=1000 + index)
        if kind == "brand_started":
            post = fake.post(brand["id"], "Our winter sale starts today! Questions welcome.", asked)
            question = fake.post(
                customer["id"],
                "@acme does the sale include the outlet?",
                asked + timedelta(minutes=25),
                in_reply_to=post["id"],
            )
            fake.post(
                brand["id"],
                "Yes, everything!",
                asked + timedelta(minutes=50),
                in_reply_to=question["id"],
            )
            scenario.threads.append(ScriptedThread(kind, post["id"], customer["acct"]))
            continue
        root = fake.post(
            customer["id"], text, asked, visibility="direct" if kind == "private" else "public"
        )
        scenario.threads.append(ScriptedThread(kind, root["id"], customer["acct"]))
        reply_after = {
            "fast": timedelta(minutes=rng.randrange(4, 55)),
            "late": timedelta(minutes=rng.randrange(75, 300)),
            "follow_up": timedelta(minutes=rng.randrange(5, 45)),
            "thanks": timedelta(minutes=rng.randrange(5, 40)),
            "private": timedelta(minutes=rng.randrange(10, 50)),
        }.get(kind)
        if reply_after is None:  # never answered
            continue
        reply = fake.post(
            brand["id"],
            f"@{customer['acct']} {rng.choice(REPLIES)}",
            asked + reply_after,
            in_reply_to=root["id"],
            visibility="direct" if kind == "private" else "public",
        )
        if kind == "follow_up":
            later = asked + reply_after + timedelta(minutes=rng.randrange(20, 240))
            follow = fake.post(
                customer["id"], rng.choice(FOLLOW_UPS), later, in_reply_to=reply["id"]
            )
            if rng.random() < 0.6:
                fake.post(
                    brand["id"],
                    f"@{customer['acct']} We are on it and will update you today.",
                    later + timedelta(minutes=rng.randrange(10, 200)),
                    in_reply_to=follow["id"],
                )
        elif kind == "thanks":
            fake.post(
                customer["id"],
                "@acme thanks!",
                asked + reply_after + timedelta(minutes=3),
                in_reply_to=reply["id"],
            )
    return scenario
