"""The fake Discourse answers as the Discourse OpenAPI spec and Discourse's controllers say."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reply_sla.local.fake_discourse import (
    SMALL_ACTION,
    WHISPER,
    FakeDiscourse,
    script_conversations,
)

SPEC_URI = "urn:replysla:discourse-openapi"
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
# The spec declares no error responses; this is Discourse's `render_json_error` body
# (JsonError#create_errors_json), with the `extras` its rate limiter adds.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "additionalProperties": False,
    "properties": {
        "errors": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "error_type": {"type": "string"},
        "extras": {
            "type": "object",
            "additionalProperties": False,
            "required": ["wait_seconds", "time_left"],
            "properties": {"wait_seconds": {"type": "integer"}, "time_left": {"type": "string"}},
        },
    },
}


def specs_dir() -> Path:
    """shared/specs beside the project, or wherever REPLYSLA_SPECS_DIR says."""
    default = Path(__file__).resolve().parents[3] / "shared" / "specs"
    return Path(os.environ.get("REPLYSLA_SPECS_DIR", default))


def _patch(node: Any) -> None:
    """Known spec defects, patched in memory only (MANIFEST.md)."""
    if isinstance(node, dict):
        props = node.get("properties")
        # Real responses carry integers: `reply_to_post_number` is typed string-or-null.
        if isinstance(props, dict) and "reply_to_post_number" in props:
            props["reply_to_post_number"] = {"type": ["integer", "string", "null"]}
        for value in node.values():
            _patch(value)
    elif isinstance(node, list):
        for value in node:
            _patch(value)


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((specs_dir() / "discourse-openapi.json").read_text())
    _patch(document)
    return document


@cache
def registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=spec(), specification=DRAFT202012))


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Every error of `instance` against a schema that may $ref the spec's components."""
    validator = Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, "\n".join(errors[:10])


def response_schema(path: str, *, with_raw: bool = False) -> dict[str, Any]:
    """The spec's 200 schema of a GET, its $refs pointed at the spec document."""
    schema = spec()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    patched: dict[str, Any] = json.loads(
        json.dumps(schema["schema"]).replace('"#/components/', f'"{SPEC_URI}#/components/')
    )
    if with_raw:
        # The spec's topic posts forbid extra keys, yet `include_raw=true` adds `raw` to each
        # (TopicsController#show passes it to TopicViewSerializer): a gap of the spec.
        items = patched["properties"]["post_stream"]["properties"]["posts"]["items"]
        items["properties"]["raw"] = {"type": "string"}
    return patched


def call(url: str, key: str | None = None, username: str = "acme_support") -> tuple[int, Any, Any]:
    headers = {"Api-Key": key, "Api-Username": username} if key else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture
def world():
    """A forum with staff, a customer, a pinned welcome topic and a support thread."""
    with FakeDiscourse(lambda: T0) as fake:
        fake.add_user("acme_support", "ACME Support", moderator=True, groups=["support"])
        fake.add_user("marta", "Marta", groups=["support"])
        fake.add_user("carol", "Carol")
        fake.create_topic(
            "acme_support", "Welcome", "Be kind.", T0 - timedelta(days=90), pinned_globally=True
        )
        question = fake.create_topic("carol", "Order late", "Where is it?", T0 - timedelta(hours=3))
        topic_id = question["topic_id"]
        fake.reply(
            topic_id, "marta", "Asking the warehouse.", T0 - timedelta(hours=2), post_type=WHISPER
        )
        answer = fake.reply(
            topic_id,
            "acme_support",
            "It ships today.",
            T0 - timedelta(hours=1),
            reply_to_post_number=1,
        )
        fake.reply(topic_id, "carol", "Thanks!", T0 - timedelta(minutes=30), reply_to_post_number=3)
        fake.reply(topic_id, "acme_support", "", T0 - timedelta(minutes=20), post_type=SMALL_ACTION)
        yield {
            "fake": fake,
            "base": fake.base_url,
            "key": fake.issue_api_key(),
            "topic_id": topic_id,
            "question": question,
            "answer": answer,
        }


def test_latest_is_a_topic_list_with_the_pinned_topic_first(world):
    # Given a pinned welcome topic and a newer support thread
    # When the staff user lists the latest topics
    status, _, body = call(f"{world['base']}/latest.json", world["key"])
    # Then it validates, the pinned topic leads, and the thread's bump is its last regular post
    assert status == 200
    validate(body, response_schema("/latest.json"))
    topics = body["topic_list"]["topics"]
    assert [t["title"] for t in topics] == ["Welcome", "Order late"]
    assert topics[1]["bumped_at"] == "2026-11-16T08:30:00.000Z"  # not the small action after it
    assert topics[1]["highest_post_number"] == 5
    assert "more_topics_url" not in body["topic_list"]


def test_full_latest_page_links_the_next_one_and_the_last_page_is_short(world):
    # Given two topics, When they are listed one per page
    base = f"{world['base']}/latest.json"
    pages = [call(f"{base}?page={n}&per_page=1", world["key"])[2] for n in range(3)]
    # Then full pages carry more_topics_url (Discourse's path without .json); the third is empty
    for body in pages:
        validate(body, response_schema("/latest.json"))
    assert (
        pages[0]["topic_list"]["more_topics_url"] == "/latest?no_definitions=true&page=1&per_page=1"
    )
    assert (
        pages[1]["topic_list"]["more_topics_url"] == "/latest?no_definitions=true&page=2&per_page=1"
    )
    assert (
        pages[2]["topic_list"]["topics"] == [] and "more_topics_url" not in pages[2]["topic_list"]
    )


def test_topic_view_has_the_first_posts_and_the_whole_stream(world):
    # Given the support thread, When the staff user views it with and without raw
    url = f"{world['base']}/t/{world['topic_id']}.json"
    _, _, plain = call(url, world["key"])
    status, _, with_raw = call(f"{url}?include_raw=true", world["key"])
    # Then both validate; posts carry their types, integer parents and (asked for) raw text
    assert status == 200
    validate(plain, response_schema("/t/{id}.json"))
    validate(with_raw, response_schema("/t/{id}.json", with_raw=True))
    posts = with_raw["post_stream"]["posts"]
    assert [p["post_type"] for p in posts] == [1, WHISPER, 1, 1, SMALL_ACTION]
    assert [p["reply_to_post_number"] for p in posts] == [None, None, 1, 3, None]
    assert with_raw["post_stream"]["stream"] == [p["id"] for p in posts]
    assert posts[0]["raw"] == "Where is it?" and posts[0]["cooked"] == "<p>Where is it?</p>"
    assert "raw" not in plain["post_stream"]["posts"][0]


def test_long_topic_carries_twenty_posts_and_the_rest_come_by_id(world):
    # Given a topic of 25 posts
    fake = world["fake"]
    topic = fake.create_topic("carol", "Long one", "Post 1", T0 - timedelta(days=1))
    for n in range(2, 26):
        fake.reply(
            topic["topic_id"], "carol", f"Post {n}", T0 - timedelta(days=1) + timedelta(minutes=n)
        )
    url = f"{world['base']}/t/{topic['topic_id']}"
    # When the topic is viewed, and its last five posts are asked by id
    _, _, view = call(f"{url}.json", world["key"])
    tail = view["post_stream"]["stream"][20:]
    query = "&".join(f"post_ids[]={i}" for i in tail)
    status, _, body = call(f"{url}/posts.json?include_raw=true&{query}", world["key"])
    # Then the view has 20 posts and 25 ids; the posts endpoint returns exactly the asked ones
    assert (len(view["post_stream"]["posts"]), len(view["post_stream"]["stream"])) == (20, 25)
    assert status == 200
    validate(body, response_schema("/t/{id}/posts.json"))
    assert [p["raw"] for p in body["post_stream"]["posts"]] == [f"Post {n}" for n in range(21, 26)]
    assert body["id"] == topic["topic_id"]


def test_single_post_and_the_entities_returned_to_the_test_author(world):
    # Given the staff answer, When it is fetched by id
    status, _, body = call(f"{world['base']}/posts/{world['answer']['id']}.json", world["key"])
    # Then it and the dicts create_topic and reply returned are Post entities of the spec
    assert status == 200
    schema = response_schema("/posts/{id}.json")
    for entity in (body, world["answer"], world["question"]["post"]):
        validate(entity, schema)
    assert body["topic_id"] == world["topic_id"] and body["reply_count"] == 1


def test_group_members_page_by_limit_and_offset_owners_first(world):
    # Given a support group of two, one of them an owner
    world["fake"].add_to_group("support", "marta", owner=True)
    url = f"{world['base']}/groups/support/members.json"
    # When listed one at a time
    first = call(f"{url}?limit=1", world["key"])[2]
    second = call(f"{url}?limit=1&offset=1", world["key"])[2]
    # Then both validate, owners come first, and meta says where the page is
    for body in (first, second):
        validate(body, response_schema("/groups/{name}/members.json"))
    assert [m["username"] for m in first["members"] + second["members"]] == [
        "marta",
        "acme_support",
    ]
    assert [o["username"] for o in first["owners"]] == ["marta"]
    assert second["meta"] == {"total": 2, "limit": 1, "offset": 1}


def test_whispers_are_for_staff_only(world):
    # Given a non-staff user with a key of their own
    key = world["fake"].issue_api_key("carol")
    # When the customer views the thread
    _, _, body = call(f"{world['base']}/t/{world['topic_id']}.json", key, "carol")
    # Then the whisper is neither in the posts nor in the stream
    validate(body, response_schema("/t/{id}.json"))
    assert WHISPER not in [p["post_type"] for p in body["post_stream"]["posts"]]
    assert len(body["post_stream"]["stream"]) == 4 and body["highest_post_number"] == 5


@pytest.mark.parametrize(
    ("key", "username"),
    [
        ("not-a-key", "acme_support"),
        ("good", "nobody"),
        ("carol's", "acme_support"),
        ("revoked", "acme_support"),
    ],
)
def test_refused_keys_are_invalid_access(world, key, username):
    # Given an unknown key, an unknown user, a single-user key for someone else, a revoked key
    fake = world["fake"]
    keys = {
        "good": world["key"],
        "carol's": fake.issue_api_key("carol"),
        "revoked": fake.issue_api_key(),
    }
    fake.revoke_api_key(keys["revoked"])
    # When used
    status, _, body = call(f"{world['base']}/latest.json", keys.get(key, key), username)
    # Then Discourse's 403 invalid_access body
    assert status == 403
    validate(body, ERROR_SCHEMA)
    assert body == {
        "errors": [
            "You are not permitted to view the requested resource. "
            "The API username or key is invalid."
        ],
        "error_type": "invalid_access",
    }


@pytest.mark.parametrize(
    "path", ["/t/999.json", "/posts/999.json", "/groups/nope/members.json", "/nothing"]
)
def test_unknown_things_are_not_found_errors(world, path):
    # Given an unknown topic, post, group or route, When requested, Then 404 not_found
    status, _, body = call(world["base"] + path, world["key"])
    assert status == 404
    validate(body, ERROR_SCHEMA)
    assert body["error_type"] == "not_found"


def test_bad_paging_parameters_are_invalid_parameters(world):
    # Given a page size above Discourse's 100, When asked, Then 400 invalid_parameters
    status, _, body = call(f"{world['base']}/latest.json?per_page=500", world["key"])
    assert status == 400
    validate(body, ERROR_SCHEMA)
    assert body["error_type"] == "invalid_parameters"


def test_the_admin_key_limit_answers_429_with_the_wait_in_header_and_body():
    # Given a forum allowing 3 requests a minute per key
    clock = [T0]
    with FakeDiscourse(lambda: clock[0], rate_limit_per_minute=3) as fake:
        fake.add_user("acme_support", moderator=True)
        key = fake.issue_api_key()
        url = f"{fake.base_url}/latest.json"
        # When a fourth request comes 20 s after the first
        codes = [call(url, key)[0] for _ in range(3)]
        clock[0] = T0 + timedelta(seconds=20)
        status, headers, body = call(url, key)
        clock[0] = T0 + timedelta(seconds=60)
        after = call(url, key)[0]
    # Then it is 429 with Retry-After and extras.wait_seconds of 40 s; a minute on it works again
    assert codes == [200, 200, 200] and (status, after) == (429, 200)
    validate(body, ERROR_SCHEMA)
    assert headers["Retry-After"] == "40"
    assert headers["Discourse-Rate-Limit-Error-Code"] == "admin_api_key_rate_limit"
    assert body["error_type"] == "rate_limit" and body["extras"]["wait_seconds"] == 40


def test_injected_faults_carry_discourse_bodies(world):
    # Given an injected 429 and an injected 403
    world["fake"].fail_next(429, headers={"Retry-After": "12"})
    world["fake"].fail_next(403)
    # When the next two requests come
    limited = call(f"{world['base']}/latest.json", world["key"])
    refused = call(f"{world['base']}/latest.json", world["key"])
    # Then they are Discourse's rate-limit and invalid-access answers
    validate(limited[2], ERROR_SCHEMA)
    validate(refused[2], ERROR_SCHEMA)
    assert (limited[0], limited[1]["Retry-After"], limited[2]["extras"]["wait_seconds"]) == (
        429,
        "12",
        12,
    )
    assert (refused[0], refused[2]["error_type"]) == (403, "invalid_access")


def test_posts_from_the_future_are_invisible_and_do_not_bump():
    # Given a reply scheduled five minutes after the clock
    clock = [T0]
    with FakeDiscourse(lambda: clock[0]) as fake:
        fake.add_user("acme_support", moderator=True)
        fake.add_user("carol")
        key = fake.issue_api_key()
        topic = fake.create_topic("carol", "Hi", "Hello?", T0 - timedelta(hours=1))
        fake.reply(topic["topic_id"], "carol", "Anyone?", T0 + timedelta(minutes=5))
        url = f"{fake.base_url}/t/{topic['topic_id']}.json"
        # When the topic is viewed before and after that moment
        before = call(url, key)[2]
        clock[0] = T0 + timedelta(minutes=6)
        after = call(url, key)[2]
        listed = call(f"{fake.base_url}/latest.json", key)[2]["topic_list"]["topics"][0]
    # Then the reply and its bump appear only once its time has come
    assert len(before["post_stream"]["stream"]) == 1 and len(after["post_stream"]["stream"]) == 2
    assert listed["bumped_at"] == "2026-11-16T09:05:00.000Z"


def test_private_messages_are_not_listed_and_hidden_from_outsiders(world):
    # Given a private message between the customer and the staff user
    fake = world["fake"]
    pm = fake.create_topic(
        "carol", "My address", "1 Main St", T0 - timedelta(minutes=5), private_with=["acme_support"]
    )
    marta = fake.issue_api_key("marta")
    # When listed, and viewed by a participant and by an outsider
    listed = [
        t["id"]
        for t in call(f"{world['base']}/latest.json", world["key"])[2]["topic_list"]["topics"]
    ]
    status, _, view = call(f"{world['base']}/t/{pm['topic_id']}.json", world["key"])
    outsider = call(f"{world['base']}/t/{pm['topic_id']}.json", marta, "marta")
    # Then /latest leaves it out, the participant sees it, the outsider gets invalid_access
    assert pm["topic_id"] not in listed
    assert (status, view["archetype"]) == (200, "private_message")
    validate(view, response_schema("/t/{id}.json"))
    assert outsider[0] == 403 and outsider[2]["error_type"] == "invalid_access"


def test_scripted_week_is_deterministic_and_valid():
    # Given two fakes loaded with the same seed
    week = datetime(2026, 11, 16, tzinfo=UTC)
    bodies = []
    for _ in range(2):
        with FakeDiscourse(lambda: week + timedelta(days=8)) as fake:
            entry = script_conversations(fake, week, threads=10, seed=3)
            key = entry["credentials"]["api_key"]
            listed = call(f"{fake.base_url}/latest.json?per_page=100", key)[2]
            views = [
                call(f"{fake.base_url}/t/{t['id']}.json", key)[2]
                for t in listed["topic_list"]["topics"]
            ]
        validate(listed, response_schema("/latest.json"))
        for view in views:
            validate(view, response_schema("/t/{id}.json"))
        bodies.append(
            [
                [
                    (p["username"], p["created_at"], p["post_type"])
                    for p in v["post_stream"]["posts"]
                ]
                for v in views
            ]
        )
    # Then both weeks are the same: ten threads and the pinned welcome, whispers and small actions
    assert bodies[0] == bodies[1] and len(bodies[0]) == 11
    types = {t for view in bodies[0] for _, _, t in view}
    assert {1, WHISPER, SMALL_ACTION} <= types
    assert entry["credentials"]["api_username"] == "acme_support"
    assert entry["staff_groups"] == ["support"]


@pytest.mark.parametrize("kind", ["shape", "fields", "item"])
def test_malformed_bodies_break_the_documented_shape(world, kind):
    # Given a malformed next answer, When the latest topics are listed
    world["fake"].malformed_next(kind=kind)
    _, _, body = call(f"{world['base']}/latest.json", world["key"])
    # Then it no longer has the documented shape (or its first item lacks bumped_at)
    if kind == "shape":
        assert isinstance(body, list)
    else:
        assert "bumped_at" not in body["topic_list"]["topics"][0]
        assert ("id" in body["topic_list"]["topics"][0]) is (kind == "item")


def test_requests_are_counted_per_path(world):
    # Given a fresh count, When two requests hit one path, Then the counter says two
    world["fake"].requests.clear()
    for _ in range(2):
        call(f"{world['base']}/latest.json", world["key"])
    assert world["fake"].requests == {"/latest.json": 2}
