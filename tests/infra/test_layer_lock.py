"""infra/layer-requirements.lock, what `sam build` installs into the layer, stays in step with
shared/requirements.txt: every requirement is pinned to a version it allows, with a hash, and
nothing is pinned twice. (`.venv/bin/python infra/layer_lock.py` regenerates it.)"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.infra.conftest import LAYER_LOCK, ROOT

pytestmark = pytest.mark.infra

_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)\s*\\?\s*$")
_HASH = re.compile(r"^\s+--hash=sha256:([0-9a-f]{64})\s*$")


def read_lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes), failing on anything the lock format does not allow."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for number, line in enumerate(LAYER_LOCK.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if pin := _PIN.match(line):
            name = canonicalize_name(pin.group(1))
            assert name not in pins, f"{LAYER_LOCK.name}:{number}: {name} pinned twice"
            pins[name] = (pin.group(2), [])
            current = name
        elif (digest := _HASH.match(line)) and current is not None:
            pins[current][1].append(digest.group(1))
        else:
            pytest.fail(f"{LAYER_LOCK.name}:{number}: not a pin or a hash: {line!r}")
    return pins


def _requirements() -> list[Requirement]:
    lines = (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [Requirement(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()]


def test_every_requirement_is_pinned_to_an_allowed_version() -> None:
    # Given the layer's requirements and the lock
    pins = read_lock()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        # Then each requirement is pinned, at a version its specifier allows
        assert name in pins, f"{name} is in shared/requirements.txt but not in the lock"
        version = pins[name][0]
        assert requirement.specifier.contains(Version(version), prereleases=True), (
            f"{name}=={version} does not satisfy {requirement}: run infra/layer_lock.py"
        )


def test_every_pin_carries_a_hash() -> None:
    for name, (_, hashes) in read_lock().items():
        assert hashes, f"{name} has no --hash: pip would refuse the lock with --require-hashes"


def test_the_makefile_target_installs_the_lock_with_hashes_and_compiles() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("build-ReplySlaLayer:", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes" in target and "infra/layer-requirements.lock" in target
    assert "--python-version 3.12" in target and "manylinux2014_x86_64" in target
    assert "compileall" in target and "unchecked-hash" in target
