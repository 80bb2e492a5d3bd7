"""The fake X answers as the X OpenAPI specs say: 2.166 (tweets) and 2.167 (posts) bodies."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reply_sla.local.fake_x import SHAPES, FakeX

SPEC_FILES = {"tweets": "x-openapi-2.166.json", "posts": "x-openapi-2.167.json"}
SPEC_URIS = {family: f"urn:replysla:{name}" for family, name in SPEC_FILES.items()}
RESPONSES = {
    "tweets": {
        "/2/users/me": "Get2UsersMeResponse",
        "/2/users/{id}/mentions": "Get2UsersIdMentionsResponse",
        "/2/users/{id}/tweets": "Get2UsersIdTweetsResponse",
        "/2/tweets/{id}": "Get2TweetsIdResponse",
    },
    "posts": {
        "/2/users/me": "GetUsersMeResponse",
        "/2/users/{id}/mentions": "GetUsersMentionsResponse",
        "/2/users/{id}/tweets": "GetUsersPostsResponse",
        "/2/tweets/{id}": "GetPostsByIdResponse",
    },
}
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FAMILIES = pytest.mark.parametrize("family", ["tweets", "posts"])


def specs_dir() -> Path:
    """shared/specs beside the project, or wherever REPLYSLA_SPECS_DIR says."""
    default = Path(__file__).resolve().parents[3] / "shared" / "specs"
    return Path(os.environ.get("REPLYSLA_SPECS_DIR", default))


def _patched(node: Any) -> Any:
    """2.167's known defects, fixed in memory only (MANIFEST.md): duplicate enum entries; and
    OpenAPI 3.0's `nullable`, which JSON Schema spells as a type union."""
    if isinstance(node, list):
        return [_patched(item) for item in node]
    if not isinstance(node, dict):
        return node
    fixed = {key: _patched(value) for key, value in node.items()}
    if isinstance(fixed.get("enum"), list):
        fixed["enum"] = list({json.dumps(v): v for v in fixed["enum"]}.values())
    if fixed.pop("nullable", False) and isinstance(fixed.get("type"), str):
        fixed["type"] = [fixed["type"], "null"]
    return fixed


@cache
def spec(family: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((specs_dir() / SPEC_FILES[family]).read_text())
    return _patched(document) if family == "posts" else document


@cache
def registry() -> Registry:
    resources = [
        (SPEC_URIS[f], Resource(contents=spec(f), specification=DRAFT202012)) for f in SPEC_FILES
    ]
    return Registry().with_resources(resources)


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Every error of `instance` against a schema that may $ref the specs' components."""
    validator = Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, "\n".join(errors[:10])


def component(family: str, name: str) -> dict[str, Any]:
    return {"$ref": f"{SPEC_URIS[family]}#/components/schemas/{name}"}


def operation(family: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = spec(family)["paths"][path]["get"]
    return op


def response_schema(family: str, path: str) -> dict[str, Any]:
    """The spec's 200 schema of an operation (checked to be the component we name)."""
    schema = operation(family, path)["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{RESPONSES[family][path]}"}
    return component(family, RESPONSES[family][path])


def validate_problem(body: dict[str, Any], family: str) -> None:
    """An error body against the Problem schema of its spec (2.166 for the generic ones).

    2.166's Problem discriminates by `type`; 2.167's is a `oneOf` of the api.x.com problems only,
    so `about:blank` and other generic problems are checked against 2.166's.
    """
    mapping_167 = spec("posts")["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    if family == "posts" and body["type"] in mapping_167:
        validate(body, component("posts", "Problem"))
        return
    mapping = spec("tweets")["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    target = mapping.get(body["type"], "#/components/schemas/Problem")
    validate(body, {"$ref": SPEC_URIS["tweets"] + target})


def call(url: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


class World:
    """A running fake with the brand, a customer, a thread, a deleted post and a stray post."""

    def __init__(self, fake: FakeX) -> None:
        self.fake, self.base = fake, fake.base_url
        shape = SHAPES[fake.field_family]
        self.fields_param, self.referenced = shape.fields_param, shape.referenced
        self.includes, self.expand_referenced = shape.includes, shape.referenced_expansion
        self.brand = fake.add_user("acme", "Acme Support", description="We help")
        self.carol = fake.add_user("carol", "Carol")
        self.token = fake.issue_token(self.brand["id"])
        self.root = fake.post(self.carol["id"], "@acme where is my order? <3 & thanks", ago(180))
        self.reply = fake.post(
            self.brand["id"], "@carol Looking now!", ago(120), in_reply_to=self.root["id"]
        )
        self.again = fake.post(
            self.carol["id"], "still waiting", ago(60), in_reply_to=self.reply["id"]
        )
        gone = fake.post(self.carol["id"], "@acme first try", ago(50))
        self.orphan = fake.post(self.carol["id"], "@acme me again", ago(40), in_reply_to=gone["id"])
        fake.delete(gone["id"])
        self.gone = gone
        fake.post(self.carol["id"], "lunch was great", ago(30))

    def get(self, path: str, token: str | None = "brand", **params: str) -> Any:
        query = f"?{urlencode(params)}" if params else ""
        return call(self.base + path + query, self.token if token == "brand" else token)

    def expanded(self, path: str, **params: str) -> tuple[int, dict[str, str], Any]:
        """A GET with the fields and expansions the adapter asks for, in this family's names."""
        return self.get(
            path,
            **{
                self.fields_param: "conversation_id,created_at",
                "expansions": f"author_id,{self.expand_referenced}",
                "user.fields": "username,name,created_at,description",
                **params,
            },
        )


def ago(minutes: int) -> datetime:
    return T0 - timedelta(minutes=minutes)


@pytest.fixture(params=["tweets", "posts"])
def world(request):
    with FakeX(lambda: T0, field_family=request.param) as fake:
        yield World(fake)


@pytest.fixture
def tweets_world():
    with FakeX(lambda: T0) as fake:
        yield World(fake)


def test_users_me_is_the_token_user(world):
    # Given the brand's user token, When it asks who it is
    status, _, body = world.get("/2/users/me", **{"user.fields": "created_at,description"})
    # Then the body is the spec's users/me response naming the brand
    assert status == 200
    validate(body, response_schema(world.fake.field_family, "/2/users/me"))
    assert body["data"]["id"] == world.brand["id"] and body["data"]["description"] == "We help"


def test_mentions_page_carries_the_family_keys_and_validates(world):
    # Given three posts mentioning the brand (one replying to a deleted post)
    # When the brand's mentions are asked with the adapter's fields and expansions
    path = f"/2/users/{world.brand['id']}/mentions"
    status, headers, body = world.expanded(path)
    # Then it validates as the spec's mentions response of this family, newest first
    family = world.fake.field_family
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    validate(body, response_schema(family, "/2/users/{id}/mentions"))
    ids = [int(t["id"]) for t in body["data"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert body["meta"] == {"result_count": 3, "newest_id": str(ids[0]), "oldest_id": str(ids[-1])}
    # And the replies name their parent under this family's key, the parent under its includes
    again = next(t for t in body["data"] if t["id"] == world.again["id"])
    assert again[world.referenced] == [{"type": "replied_to", "id": world.reply["id"]}]
    assert again["conversation_id"] == world.root["id"] and again["author_id"] == world.carol["id"]
    assert [t["id"] for t in body["includes"][world.includes]] == [world.reply["id"]]
    assert {u["username"] for u in body["includes"]["users"]} == {"carol"}
    # And the deleted parent is a partial error, not a failure
    assert [e["resource_id"] for e in body["errors"]] == [world.gone["id"]]
    for error in body["errors"]:
        validate_problem(error, family)


def test_post_text_escapes_markup_as_x_does(world):
    # Given a post with <, > and &, When it comes in the mentions
    _, _, body = world.expanded(f"/2/users/{world.brand['id']}/mentions")
    root = next(t for t in body["data"] if t["id"] == world.root["id"])
    # Then the text is HTML-escaped and created_at is X's millisecond UTC format
    assert root["text"] == "@acme where is my order? &lt;3 &amp; thanks"
    assert ISO_MS.match(root["created_at"])


def test_own_posts_page_validates_and_keeps_replies(world):
    # Given the brand's one reply, When its own timeline is asked without reposts
    path = f"/2/users/{world.brand['id']}/tweets"
    status, _, body = world.expanded(path, exclude="retweets")
    # Then it validates and holds the reply; excluding replies leaves an empty page
    assert status == 200
    validate(body, response_schema(world.fake.field_family, "/2/users/{id}/tweets"))
    assert [t["id"] for t in body["data"]] == [world.reply["id"]]
    _, _, empty = world.expanded(path, exclude="replies")
    assert empty == {"meta": {"result_count": 0}}


def test_empty_page_is_only_meta_with_result_count_zero(world):
    # Given the newest mention's id, When mentions since it are asked
    _, _, body = world.expanded(f"/2/users/{world.brand['id']}/mentions")
    path = f"/2/users/{world.brand['id']}/mentions"
    status, _, empty = world.expanded(path, since_id=body["meta"]["newest_id"])
    # Then the page has no `data` key at all, as X documents, and still validates
    assert (status, empty) == (200, {"meta": {"result_count": 0}})
    validate(empty, response_schema(world.fake.field_family, "/2/users/{id}/mentions"))


def test_post_lookup_validates_and_a_deleted_post_is_a_not_found_problem(world):
    # Given a reply and a deleted post, When each is looked up
    status, _, body = world.expanded(f"/2/tweets/{world.again['id']}")
    _, _, gone = world.get(f"/2/tweets/{world.gone['id']}")
    # Then the reply is the spec's lookup response with its conversation
    family = world.fake.field_family
    assert status == 200
    validate(body, response_schema(family, "/2/tweets/{id}"))
    assert body["data"]["conversation_id"] == world.root["id"]
    # And the deleted one is a 200 with only a resource-not-found problem
    validate(gone, response_schema(family, "/2/tweets/{id}"))
    assert set(gone) == {"errors"}
    validate_problem(gone["errors"][0], family)
    assert gone["errors"][0]["type"].endswith("/problems/resource-not-found")


def test_objects_returned_to_the_test_author_match_the_spec(world):
    # Given the dicts add_user and post returned, Then they are the spec's User and Tweet/Post
    family = world.fake.field_family
    validate(world.carol, component(family, "User"))
    validate(world.again, component(family, "Tweet" if family == "tweets" else "Post"))
    assert world.again[world.referenced] == [{"type": "replied_to", "id": world.reply["id"]}]


@FAMILIES
def test_fake_accepts_exactly_the_specs_field_and_expansion_names(family):
    # Given the spec's enums for fields, expansions and user fields
    parameters = spec(family)["components"]["parameters"]
    names = {
        "tweets": ("TweetFieldsParameter", "TweetExpansionsParameter"),
        "posts": ("PostFieldsParameter", "PostExpansionsParameter"),
    }[family]

    def enum(name: str) -> set[str]:
        return set(parameters[name]["schema"]["items"]["enum"])

    # Then the fake accepts exactly them
    shape = SHAPES[family]
    assert parameters[names[0]]["name"] == shape.fields_param
    assert shape.post_fields == enum(names[0])
    assert shape.expansions == enum(names[1])
    assert shape.user_fields == enum("UserFieldsParameter")
    assert shape.user_expansions == enum("UserExpansionsParameter")


@pytest.mark.parametrize(
    ("path", "concrete"),
    [
        ("/2/users/{id}/mentions", "/2/users/{brand}/mentions"),
        ("/2/users/{id}/tweets", "/2/users/{brand}/tweets"),
        ("/2/tweets/{id}", "/2/tweets/{root}"),
        ("/2/users/me", "/2/users/me"),
    ],
)
def test_fake_accepts_exactly_the_specs_query_parameters(world, path, concrete):
    # Given the query parameters the spec declares for the operation
    family = world.fake.field_family
    parameters = [
        spec(family)["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
        for p in operation(family, path)["parameters"]
    ]
    declared = {p["name"] for p in parameters if p["in"] == "query"}
    # When an unknown parameter is sent
    url = concrete.format(brand=world.brand["id"], root=world.root["id"])
    status, headers, body = world.get(url, bogus="1")
    # Then X's invalid-request problem lists exactly the declared ones as allowed
    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    validate_problem(body, family)
    message = body["errors"][0]["message"]
    assert message.startswith("The query parameter [bogus] is not one of [")
    assert set(message.rsplit("[", 1)[-1].rstrip("]").split(",")) == declared


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"max_results": "3"}, "max_results"),
        ({"since_id": "abc"}, "since_id"),
        ({"pagination_token": "!!"}, "pagination_token"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"expansions": "everything"}, "expansions"),
    ],
)
def test_bad_values_are_invalid_request_problems_naming_the_parameter(world, params, named):
    # Given a parameter value the spec does not allow, When the mentions are asked
    status, _, body = world.get(f"/2/users/{world.brand['id']}/mentions", **params)
    # Then it is a 400 invalid-request problem naming the parameter and value
    assert status == 400
    validate_problem(body, world.fake.field_family)
    assert body["errors"][0]["parameters"] == {named: [params[named]]}


@FAMILIES
def test_each_family_refuses_the_other_familys_names(family):
    # Given a fake of one family, When the other family's field names are sent
    other = SHAPES["posts" if family == "tweets" else "tweets"]
    with FakeX(lambda: T0, field_family=family) as fake:
        brand = fake.add_user("acme")
        token = fake.issue_token(brand["id"])
        url = f"{fake.base_url}/2/users/{brand['id']}/mentions?"
        status, _, body = call(url + urlencode({other.fields_param: "created_at"}), token)
        expanded, _, _ = call(url + urlencode({"expansions": other.referenced_expansion}), token)
    # Then both are refused as invalid requests, as the renamed API refuses them
    assert (status, expanded) == (400, 400)
    assert set(body["errors"][0]["parameters"]) == {other.fields_param}


@pytest.mark.parametrize(
    ("case", "status", "kind"),
    [
        ("bad token", 401, "about:blank"),
        ("app-only token on users/me", 403, "/problems/unsupported-authentication"),
        ("unknown route", 404, "about:blank"),
        ("credits used up", 402, "/problems/credits"),
        ("rate limited", 429, "about:blank"),
        ("server down", 503, "about:blank"),
    ],
)
def test_errors_are_x_problems_with_rate_headers(world, case, status, kind):
    # Given each way a request fails
    path, token = f"/2/users/{world.brand['id']}/mentions", "brand"
    if case == "bad token":
        token = "not-a-token"
    elif case == "app-only token on users/me":
        path, token = "/2/users/me", world.fake.issue_token()
    elif case == "unknown route":
        path = "/2/nothing-here"
    else:
        world.fake.fail_next(status)
    # When requested
    code, headers, body = world.get(path, token)
    # Then the status is X's and the body a problem of its spec, with rate-limit headers
    assert code == status and headers["Content-Type"] == "application/problem+json"
    validate_problem(body, world.fake.field_family)
    assert body["type"].endswith(kind) and body["status"] == status
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(headers)
    if status == 429:
        assert headers["x-rate-limit-remaining"] == "0"


def test_rate_limit_headers_count_down_and_reset_at_the_window_end(tweets_world):
    # Given two requests to the mentions endpoint in one 15-minute window
    path = f"/2/users/{tweets_world.brand['id']}/mentions"
    _, first, _ = tweets_world.get(path)
    _, second, _ = tweets_world.get(path)
    # Then remaining counts down, and reset is an epoch second after the server's Date
    assert int(first["x-rate-limit-remaining"]) - int(second["x-rate-limit-remaining"]) == 1
    reset = datetime.fromtimestamp(int(second["x-rate-limit-reset"]), UTC)
    assert timedelta(0) < reset - parsedate_to_datetime(second["Date"]) <= timedelta(minutes=15)


def test_exceeding_the_window_is_a_429_until_it_resets():
    # Given the users/me limit (75 per 15 minutes) used up
    now = [T0]
    with FakeX(lambda: now[0]) as fake:
        token = fake.issue_token(fake.add_user("acme")["id"])
        url = f"{fake.base_url}/2/users/me"
        codes = [call(url, token)[0] for _ in range(76)]
        # When the clock passes the window's end
        now[0] = T0 + timedelta(minutes=15)
        after = call(url, token)[0]
    # Then the 76th was refused and the next window answers again
    assert codes[-2:] == [200, 429] and after == 200


def test_paging_by_next_token_and_back_by_previous_token(tweets_world):
    # Given seven more mentions (ten in all, one replying to a deleted post)
    fake, brand = tweets_world.fake, tweets_world.brand
    for minute in range(7):
        fake.post(tweets_world.carol["id"], f"@acme ping {minute}", ago(20 - minute))
    path = f"/2/users/{brand['id']}/mentions"
    # When pages of five are asked, following next_token
    _, _, first = tweets_world.get(path, max_results="5")
    _, _, second = tweets_world.get(
        path, max_results="5", pagination_token=first["meta"]["next_token"]
    )
    _, _, back = tweets_world.get(
        path, max_results="5", pagination_token=second["meta"]["previous_token"]
    )
    # Then the second page continues below the first and is the last; previous leads back
    assert first["meta"]["result_count"] == 5 and "previous_token" not in first["meta"]
    assert int(second["meta"]["newest_id"]) < int(first["meta"]["oldest_id"])
    assert second["meta"]["result_count"] == 5 and "next_token" not in second["meta"]
    assert [t["id"] for t in back["data"]] == [t["id"] for t in first["data"]]


def test_since_id_wins_over_start_time_and_start_time_bounds_a_first_page(tweets_world):
    # Given mentions at 180, 50 (deleted) and 40 minutes ago
    path = f"/2/users/{tweets_world.brand['id']}/mentions"
    start = (T0 - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # When asked from 45 minutes ago, and since the root with the same start_time
    _, _, recent = tweets_world.get(path, start_time=start)
    _, _, since = tweets_world.get(path, start_time=start, since_id=tweets_world.root["id"])
    # Then start_time keeps the newest only, since_id takes precedence over it
    assert [t["id"] for t in recent["data"]] == [tweets_world.orphan["id"]]
    assert [t["id"] for t in since["data"]] == [tweets_world.orphan["id"], tweets_world.again["id"]]


def test_only_the_800_most_recent_mentions_are_reachable():
    # Given 805 mentions of the brand
    with FakeX(lambda: T0) as fake:
        brand, carol = fake.add_user("acme"), fake.add_user("carol")
        token = fake.issue_token(brand["id"])
        for n in range(805):
            fake.post(carol["id"], f"@acme {n}", T0 - timedelta(seconds=805 - n))
        # When every page of 100 is followed
        seen, params = [], {"max_results": "100"}
        while True:
            url = f"{fake.base_url}/2/users/{brand['id']}/mentions?{urlencode(params)}"
            _, _, body = call(url, token)
            seen += body.get("data", [])
            if "next_token" not in body["meta"]:
                break
            params["pagination_token"] = body["meta"]["next_token"]
    # Then the chain ends after the 800 most recent
    assert len(seen) == 800 and seen[-1]["text"] == "@acme 5"


def test_posts_from_the_future_are_invisible():
    # Given a mention created after the fake's clock
    now = [T0]
    with FakeX(lambda: now[0]) as fake:
        brand, carol = fake.add_user("acme"), fake.add_user("carol")
        token = fake.issue_token(brand["id"])
        fake.post(carol["id"], "@acme later", T0 + timedelta(minutes=5))
        url = f"{fake.base_url}/2/users/{brand['id']}/mentions"
        # When the brand looks now and after the clock passes it
        _, _, before = call(url, token)
        now[0] = T0 + timedelta(minutes=6)
        _, _, after = call(url, token)
    # Then the mention appears only once its time has come
    assert before == {"meta": {"result_count": 0}}
    assert [t["text"] for t in after["data"]] == ["@acme later"]


def test_post_ids_grow_with_created_at_whatever_the_posting_order(tweets_world):
    # Given posts scripted out of time order, Then their ids still follow created_at
    late = tweets_world.fake.post(tweets_world.carol["id"], "@acme later", ago(1))
    early = tweets_world.fake.post(tweets_world.carol["id"], "@acme earlier", ago(2))
    assert int(early["id"]) < int(late["id"])


def test_revoked_token_is_refused(tweets_world):
    # Given the brand revoked the app's access, When the token is used, Then 401
    tweets_world.fake.revoke_token(tweets_world.token)
    assert tweets_world.get("/2/users/me")[0] == 401


def test_requests_are_counted_per_path(tweets_world):
    # Given a fresh count, When two requests hit one path, Then the counter says two
    tweets_world.fake.requests.clear()
    for _ in range(2):
        tweets_world.get("/2/users/me")
    assert tweets_world.fake.requests == {"/2/users/me": 2}
