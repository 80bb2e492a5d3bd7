"""The fake Graph API answers as Meta's field lists and the Graph API envelope say.

No OpenAPI exists for the Graph API: the schemas here are BUILT from Meta's codegen field lists
(shared/specs/facebook-codegen-*.json: field name -> type, and the node's GET edges) plus the
documented `data` / `paging` page envelope and `error` envelope. Items do not allow additional
properties, so the fake cannot invent a field.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reply_sla.local.fake_meta import FakeGraph, graph_time, parse_fields, render_fields

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NODES = ("Page", "PagePost", "Comment", "UnifiedThread", "IGUser", "IGMedia", "IGComment")
# The MANIFEST has no field list for a conversation's messages (UnifiedMessage): these are the
# fields of the Graph API's Message node reference (developers.facebook.com/docs/graph-api/
# reference/message), typed the codegen way.
MESSAGE_FIELDS = [
    {"name": "id", "type": "string"},
    {"name": "created_time", "type": "datetime"},
    {"name": "from", "type": "Object"},
    {"name": "to", "type": "Object"},
    {"name": "message", "type": "string"},
    {"name": "attachments", "type": "Object"},
    {"name": "shares", "type": "Object"},
    {"name": "sticker", "type": "string"},
    {"name": "tags", "type": "Object"},
    {"name": "is_unsupported", "type": "bool"},
]
PAGING = {
    "type": "object",
    "required": ["cursors"],
    "properties": {
        "cursors": {
            "type": "object",
            "required": ["before", "after"],
            "properties": {"before": {"type": "string"}, "after": {"type": "string"}},
            "additionalProperties": False,
        },
        "next": {"type": "string", "format": "uri"},
        "previous": {"type": "string", "format": "uri"},
    },
    "additionalProperties": False,
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code", "fbtrace_id"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "integer"},
                "error_subcode": {"type": "integer"},
                "error_user_title": {"type": "string"},
                "error_user_msg": {"type": "string"},
                "is_transient": {"type": "boolean"},
                "fbtrace_id": {"type": "string"},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}


def specs_dir() -> Path:
    """shared/specs beside the project, or wherever REPLYSLA_SPECS_DIR says."""
    default = Path(__file__).resolve().parents[3] / "shared" / "specs"
    return Path(os.environ.get("REPLYSLA_SPECS_DIR", default))


def uri(name: str) -> str:
    return f"urn:replysla:meta:{name}"


def field_type(codegen: str) -> dict[str, Any]:
    """A codegen type as JSON Schema: scalars by name, known nodes by $ref, others objects."""
    if codegen.startswith("list"):
        inner = codegen[5:-1] if codegen.startswith("list<") else ""
        return {"type": "array", **({"items": field_type(inner)} if inner else {})}
    scalars: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "datetime": {"type": "string", "format": "date-time"},
        "int": {"type": "integer"},
        "unsigned int": {"type": "integer", "minimum": 0},
        "float": {"type": "number"},
        "bool": {"type": "boolean"},
    }
    if codegen in scalars:
        return scalars[codegen]
    if codegen in (*NODES, "UnifiedMessage"):
        return {"$ref": uri(codegen)}
    return {"type": "object"}  # Object, map<...>, and node types without a field list here


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    """Graph's page envelope around items of one schema."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "array", "items": item},
            "paging": {"$ref": uri("paging")},
            "summary": {"type": "object"},
        },
        "additionalProperties": False,
    }


def node_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """A node: its fields, and its GET edges as nested pages (field expansion)."""
    properties = {f["name"]: field_type(f["type"]) for f in spec["fields"]}
    for api in spec.get("apis", []):
        if api.get("method") == "GET" and api.get("endpoint"):
            properties[api["endpoint"]] = page_of(field_type(api.get("return", "Object")))
    return {"type": "object", "properties": properties, "additionalProperties": False}


@cache
def codegen(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((specs_dir() / f"facebook-codegen-{name}.json").read_text())
    return spec


@cache
def registry() -> Registry:
    schemas = {name: node_schema(codegen(name)) for name in NODES}
    schemas["UnifiedMessage"] = node_schema({"fields": MESSAGE_FIELDS})
    schemas["paging"] = PAGING
    resources = [
        (uri(n), Resource(contents=s, specification=DRAFT202012)) for n, s in schemas.items()
    ]
    return Registry().with_resources(resources)


# Graph writes datetimes as ISO 8601 with a basic offset (`+0000`), which RFC 3339 (the
# `date-time` format) spells `+00:00`: the check is patched here, in memory, to Graph's form.
FORMATS = FormatChecker()
FORMATS.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("date-time")
def graph_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", value)
    )


def validate(instance: Any, schema: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema, registry=registry(), format_checker=FORMATS)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, "\n".join(errors[:10])


def page(node: str) -> dict[str, Any]:
    return page_of({"$ref": uri(node)})


def node(name: str) -> dict[str, Any]:
    return {"$ref": uri(name)}


def call(url: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


class World:
    """A Page with a post, a visitor post, a thread with a reply, Messenger, and an Instagram
    account with a media, a comment with replies and a Direct conversation."""

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        self.base = fake.base_url + "/v21.0"
        page = fake.add_page("ACME Support")
        self.page, self.token = page["id"], page["access_token"]
        self.carol = fake.add_user("Carol Díaz")["id"]
        self.post = fake.post(self.page, "Winter sale!", T0 - timedelta(hours=5))["id"]
        self.visitor_post = fake.post(
            self.page, "Where is my order?", T0 - timedelta(hours=4), author_id=self.carol
        )["id"]
        self.top = fake.comment(
            self.post, self.carol, "Is it online too?", T0 - timedelta(hours=3)
        )["id"]
        self.reply = fake.comment(
            self.post, self.page, "Yes!", T0 - timedelta(hours=2), parent_id=self.top
        )["id"]
        fake.message(self.page, self.carol, "Hello, a private question", T0 - timedelta(hours=1))
        fake.message(
            self.page, self.carol, "Sure, ask", T0 - timedelta(minutes=50), from_brand=True
        )
        self.ig = fake.add_instagram_account("acme", page_id=self.page)["id"]
        self.dana = fake.add_user("Dana", username="dana.ig")["id"]
        self.media = fake.publish_media(self.ig, "New in", T0 - timedelta(hours=6))["id"]
        self.ig_top = fake.comment(self.media, self.dana, "Price?", T0 - timedelta(hours=3))["id"]
        self.ig_reply = fake.comment(
            self.media, self.ig, "@dana.ig 20€", T0 - timedelta(hours=2), parent_id=self.ig_top
        )["id"]
        fake.message(self.page, self.dana, "DM about my parcel", T0 - timedelta(minutes=30))

    def get(self, path: str, token: str | None = "brand", **params: str) -> tuple[int, dict, Any]:
        query = f"?{urlencode(params)}" if params else ""
        return call(f"{self.base}{path}{query}", self.token if token == "brand" else token)


@pytest.fixture
def world():
    with FakeGraph(lambda: T0) as fake:
        yield World(fake)


def test_page_feed_is_a_page_of_page_posts(world):
    # Given the Page's own post and a visitor's, When the feed is read as the adapter asks
    fields = "id,created_time,from,message,permalink_url,comments.limit(0).summary(true)"
    status, _, body = world.get(f"/{world.page}/feed", fields=fields)
    # Then it is a page of PagePost nodes, newest first, with the comment count summary
    assert status == 200
    validate(body, page("PagePost"))
    assert [p["id"] for p in body["data"]] == [world.visitor_post, world.post]
    assert body["data"][1]["comments"] == {
        "data": [],
        "summary": {"order": "ranked", "total_count": 1},
    }
    assert body["data"][0]["comments"]["summary"]["total_count"] == 0


def test_post_comments_stream_are_comments_with_their_parent(world):
    # Given a top-level comment and the Page's reply to it
    fields = "id,created_time,message,from,parent{id},permalink_url"
    status, _, body = world.get(
        f"/{world.post}/comments", fields=fields, filter="stream", order="chronological"
    )
    # Then both come, oldest first, the reply naming its parent; the top one has no parent key
    assert status == 200
    validate(body, page("Comment"))
    top, reply = body["data"]
    assert (top["id"], reply["id"]) == (world.top, world.reply)
    assert "parent" not in top and reply["parent"] == {"id": world.top}
    assert reply["from"] == {"name": "ACME Support", "id": world.page}


def test_toplevel_filter_leaves_replies_out(world):
    # Given a comment with a reply, When comments are read with Graph's default filter
    _, _, body = world.get(f"/{world.post}/comments")
    # Then only the top-level comment comes, with Graph's default fields
    validate(body, page("Comment"))
    assert [c["id"] for c in body["data"]] == [world.top]
    assert set(body["data"][0]) == {"created_time", "from", "message", "id"}


@pytest.mark.parametrize(("platform", "customer"), [("messenger", "carol"), ("instagram", "dana")])
def test_conversations_are_unified_threads_with_messages(world, platform, customer):
    # Given a Messenger conversation and an Instagram Direct one
    fields = "id,updated_time,link,messages.limit(25){id,created_time,from,to,message}"
    status, _, body = world.get(f"/{world.page}/conversations", platform=platform, fields=fields)
    # Then each platform lists its own, with the messages newest first
    assert status == 200
    validate(body, page("UnifiedThread"))
    (conversation,) = body["data"]
    messages = conversation["messages"]["data"]
    assert all(
        m["from"]["id"] in (getattr(world, customer), world.page, world.ig) for m in messages
    )
    times = [m["created_time"] for m in messages]
    assert times == sorted(times, reverse=True)
    if platform == "instagram":
        assert messages[0]["from"] == {"username": "dana.ig", "id": world.dana}


def test_nested_messages_page_on_through_the_conversation_messages_edge(world):
    # Given a conversation with two messages read one at a time
    fields = "id,messages.limit(1){id,created_time,message}"
    _, _, body = world.get(f"/{world.page}/conversations", fields=fields)
    nested = body["data"][0]["messages"]
    # When the nested edge's next URL is followed
    status, _, more = call(nested["paging"]["next"], world.token)
    # Then it is the conversation's messages edge, carrying the sub-selection as its fields
    assert status == 200
    validate(more, page("UnifiedMessage"))
    assert urlsplit(nested["paging"]["next"]).path.endswith(f"/{body['data'][0]['id']}/messages")
    assert [m["message"] for m in nested["data"] + more["data"]] == [
        "Sure, ask",
        "Hello, a private question",
    ]


def test_instagram_media_are_ig_media(world):
    # Given the account's media, When listed as the adapter asks
    fields = "id,timestamp,permalink,caption,username,comments_count"
    status, _, body = world.get(f"/{world.ig}/media", fields=fields)
    # Then it is a page of IGMedia with the comment count and the owner's username
    assert status == 200
    validate(body, page("IGMedia"))
    assert body["data"][0]["comments_count"] == 2
    assert body["data"][0]["username"] == "acme"
    assert body["data"][0]["permalink"].startswith("https://www.instagram.com/p/")


def test_instagram_comments_carry_their_replies(world):
    # Given a comment and the account's reply
    fields = "id,timestamp,text,username,from,replies{id,timestamp,text,username,from}"
    status, _, body = world.get(f"/{world.media}/comments", fields=fields)
    # Then top-level comments come with a nested replies page
    assert status == 200
    validate(body, page("IGComment"))
    (top,) = body["data"]
    assert top["id"] == world.ig_top and top["from"] == {"id": world.dana, "username": "dana.ig"}
    assert [r["id"] for r in top["replies"]["data"]] == [world.ig_reply]


@pytest.mark.parametrize(
    ("kind", "path", "fields"),
    [
        ("Page", "page", "id,name"),
        ("PagePost", "post", "id,created_time,updated_time,message,permalink_url,from"),
        ("Comment", "reply", "id,parent{id},comment_count,can_comment"),
        ("IGUser", "ig", "id,username,name,media_count"),
        ("IGMedia", "media", "id,timestamp,owner,shortcode,media_type,like_count"),
        ("IGComment", "ig_reply", "id,parent_id,media,hidden,like_count"),
    ],
)
def test_single_nodes_match_their_field_lists(world, kind, path, fields):
    # Given a node of each kind, When it is read by id
    status, _, body = world.get(f"/{getattr(world, path)}", fields=fields)
    # Then it validates as that node with exactly the asked fields
    assert status == 200
    validate(body, node(kind))
    assert set(body) == set(fields.split(",")) - {"parent{id}"} | (
        {"parent"} if "parent{id}" in fields else set()
    )


def test_updated_time_moves_with_comments(world):
    # Given a post commented on after it was published
    _, _, body = world.get(f"/{world.post}", fields="created_time,updated_time")
    # Then updated_time is the last comment's time
    assert body["updated_time"] == graph_time(T0 - timedelta(hours=2))
    assert body["created_time"] == graph_time(T0 - timedelta(hours=5))


def test_empty_edge_is_data_only(world):
    # Given a time filter after every comment, When the comments are read
    status, _, body = world.get(
        f"/{world.post}/comments", since=str(int(T0.timestamp())), filter="stream"
    )
    # Then the page is exactly `{"data": []}`
    assert (status, body) == (200, {"data": []})
    validate(body, page("Comment"))


def test_paging_uses_opaque_cursors_and_absolute_next_urls(world):
    # Given three more comments, When read two at a time
    for minute in (10, 20, 30):
        world.fake.comment(world.post, world.carol, f"c{minute}", T0 - timedelta(minutes=minute))
    _, _, first = world.get(
        f"/{world.post}/comments", fields="id,message", filter="stream", limit="2"
    )
    # Then next points at the fake with `after`, the query kept, and paging goes to the end
    validate(first, page("Comment"))
    next_url = first["paging"]["next"]
    assert re.match(rf"http://127\.0\.0\.1:\d+/v21\.0/{world.post}/comments\?", next_url)
    query = parse_qs(urlsplit(next_url).query)
    assert query["after"] == [first["paging"]["cursors"]["after"]]
    assert query["filter"] == ["stream"] and query["fields"] == ["id,message"]
    assert "previous" not in first["paging"]
    _, _, second = call(next_url, world.token)
    _, _, third = call(second["paging"]["next"], world.token)
    validate(third, page("Comment"))
    assert "next" not in third["paging"] and "previous" in third["paging"]
    messages = [c["message"] for c in first["data"] + second["data"] + third["data"]]
    assert messages == ["Is it online too?", "Yes!", "c30", "c20", "c10"]


def test_limit_is_capped_at_one_hundred(world):
    # Given 120 comments, When 500 are asked for, Then a page holds 100 and links on
    for n in range(120):
        world.fake.comment(world.media, world.dana, f"n{n}", T0 - timedelta(minutes=n + 1))
    _, _, body = world.get(f"/{world.media}/comments", limit="500")
    assert len(body["data"]) == 100 and "next" in body["paging"]


def test_since_and_until_filter_by_creation_time(world):
    # Given comments three and two hours ago, When asked between them with Unix times
    since, until = (int((T0 - timedelta(hours=h)).timestamp()) for h in (2.5, 1))
    _, _, body = world.get(
        f"/{world.post}/comments", filter="stream", since=str(since), until=str(until)
    )
    # Then only the reply two hours ago comes
    assert [c["id"] for c in body["data"]] == [world.reply]


def test_items_from_the_future_are_invisible():
    # Given a comment created after the fake's clock
    now = [T0]
    with FakeGraph(lambda: now[0]) as fake:
        page = fake.add_page("ACME")
        post = fake.post(page["id"], "Hi", T0 - timedelta(hours=1))["id"]
        fake.comment(post, page["id"], "later", T0 + timedelta(minutes=5))
        url = f"{fake.base_url}/v21.0/{post}/comments"
        # When read before and after the clock passes it
        _, _, before = call(url, page["access_token"])
        now[0] = T0 + timedelta(minutes=6)
        _, _, after = call(url, page["access_token"])
    # Then it appears only once its time has come
    assert before == {"data": []}
    assert [c["message"] for c in after["data"]] == ["later"]


def test_every_response_carries_graph_usage_headers(world):
    # Given any Page call, When answered
    _, headers, _ = world.get(f"/{world.page}/feed")
    # Then X-App-Usage and the Page's business use case usage are JSON percentages
    app = json.loads(headers["X-App-Usage"])
    assert set(app) == {"call_count", "total_cputime", "total_time"}
    (usage,) = json.loads(headers["X-Business-Use-Case-Usage"])[world.page]
    assert usage["type"] == "pages" and usage["estimated_time_to_regain_access"] == 0
    _, ig_headers, _ = world.get(f"/{world.ig}/media")
    assert json.loads(ig_headers["X-Business-Use-Case-Usage"])[world.ig][0]["type"] == "instagram"


@pytest.mark.parametrize(
    ("token", "path", "params", "code", "subcode"),
    [
        ("nope", "/{page}/feed", {}, 190, None),
        (None, "/{page}/feed", {}, 104, None),
        ("brand", "/424242", {}, 100, 33),
        ("brand", "/{page}/likes_of_nothing", {}, 2500, None),
        ("brand", "/{page}/feed", {"fields": "id,colour"}, 100, None),
        ("brand", "/{page}/feed", {"fields": "id,comments{"}, 100, None),
    ],
)
def test_errors_are_graph_error_envelopes(world, token, path, params, code, subcode):
    # Given a bad token, no token, an unknown object, edge or field, or a broken fields syntax
    status, headers, body = world.get(path.format(page=world.page), token, **params)
    # Then Graph answers HTTP 400 with its error envelope and code
    assert status == 400
    validate(body, ERROR)
    assert body["error"]["code"] == code and body["error"].get("error_subcode") == subcode
    if code == 190:
        assert headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform" "invalid_token"')
    if code == 100 and params.get("fields") == "id,colour":
        assert body["error"]["message"] == (
            "(#100) Tried accessing nonexisting field (colour) on node type (PagePost)"
        )


def test_revoked_token_is_code_190_subcode_460(world):
    # Given a token revoked by a password change, When used, Then 190/460
    world.fake.revoke_token(world.token)
    status, _, body = world.get(f"/{world.page}/feed")
    assert status == 400 and validate(body, ERROR) is None
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (190, 460)


def test_missing_permission_is_code_10_naming_it():
    # Given a token without pages_messaging, When it reads conversations
    with FakeGraph(lambda: T0) as fake:
        page = fake.add_page("ACME", permissions={"pages_read_engagement"})
        status, _, body = call(
            f"{fake.base_url}/v21.0/{page['id']}/conversations", page["access_token"]
        )
    # Then Graph refuses with code 10 and names the permission
    assert status == 400
    validate(body, ERROR)
    assert body["error"]["code"] == 10 and "'pages_messaging'" in body["error"]["message"]


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80002, 80006])
def test_throttling_is_http_400_with_graph_codes(world, code):
    # Given a throttled next call with ten minutes to wait
    world.fake.throttle_next(code, regain_minutes=10)
    status, headers, body = world.get(f"/{world.page}/feed")
    # Then HTTP 400, Graph's throttling body, and the business header's wait
    assert status == 400
    validate(body, ERROR)
    assert body["error"]["code"] == code and body["error"]["is_transient"] is True
    assert body["error"]["message"].startswith(f"(#{code}) ")
    usage = json.loads(headers["X-Business-Use-Case-Usage"])
    assert next(iter(usage.values()))[0]["estimated_time_to_regain_access"] == 10


def test_quota_exhaustion_throttles_the_page_with_80001():
    # Given a Page allowed three calls an hour, When it makes a fourth
    with FakeGraph(lambda: T0, calls_per_hour=3) as fake:
        page = fake.add_page("ACME")
        url = f"{fake.base_url}/v21.0/{page['id']}/feed"
        answers = [call(url, page["access_token"]) for _ in range(4)]
    # Then the fourth is 80001 with the minutes until the hour turns
    _, headers, body = answers[-1]
    assert [a[0] for a in answers] == [200, 200, 200, 400]
    validate(body, ERROR)
    assert body["error"]["code"] == 80001
    (usage,) = json.loads(headers["X-Business-Use-Case-Usage"])[page["id"]]
    assert usage["call_count"] == 100 and usage["estimated_time_to_regain_access"] == 60


def test_default_faults_are_graph_errors(world):
    # Given an injected 503 and an injected bare 400
    world.fake.fail_next(503)
    world.fake.fail_next(400)
    # When two calls are made, Then both bodies are Graph errors: transient 2, throttling 4
    first, second = world.get(f"/{world.page}/feed"), world.get(f"/{world.page}/feed")
    for _, _, body in (first, second):
        validate(body, ERROR)
    assert (first[0], first[2]["error"]["code"]) == (503, 2)
    assert (second[0], second[2]["error"]["code"]) == (400, 4)


def test_another_pages_objects_are_not_found(world):
    # Given a second Page's token, When it reads the first Page's post, Then 100/33
    other = world.fake.add_page("Other")["access_token"]
    status, _, body = world.get(f"/{world.post}/comments", other)
    assert status == 400 and body["error"]["error_subcode"] == 33


def test_field_syntax_round_trips():
    # Given Graph's field syntax with modifiers and nesting
    text = "id,messages.limit(25){id,from},comments.limit(0).summary(true)"
    # When parsed and rendered, Then it is the same text
    fields = parse_fields(text)
    assert fields["messages"].modifiers == {"limit": "25"}
    assert render_fields(fields) == text


def test_requests_are_counted_per_path(world):
    # Given a fresh count, When two calls hit one path, Then the counter says two
    world.fake.requests.clear()
    world.get(f"/{world.page}/feed")
    world.get(f"/{world.page}/feed")
    assert world.fake.requests == {f"/v21.0/{world.page}/feed": 2}
