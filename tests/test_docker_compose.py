"""docker-compose.yml (issue 14): PostgreSQL and several syndicate workers, secrets from files,
each worker's health from ``syndicate health``; the build context keeps out what is not the image's.

Read as data (PyYAML, merge keys as Compose reads them): no Docker needed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from syndicate.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_a_postgresql_service_with_its_password_from_a_file_and_a_readiness_check():
    db = SERVICES["db"]
    assert db["image"].startswith("postgres:")
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert "POSTGRES_PASSWORD" not in db["environment"]
    assert "db_password" in db["secrets"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])  # data outlives the container


def test_several_workers_from_this_image_on_the_database_checked_by_syndicate_health():
    worker = SERVICES["worker"]
    assert worker["build"] == "." and worker["command"] == ["run"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["healthcheck"]["test"] == ["CMD", "syndicate", "health"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["command"] == ["migrate"] and SERVICES["migrate"]["restart"] == "no"
    assert "ports" not in worker  # scaled replicas cannot share a published port
    state = worker["environment"]["SYNDICATE_STATE"]
    parts = urlsplit(state)
    assert parts.scheme == "postgresql" and parts.hostname == "db" and parts.password is None


def test_every_secret_is_a_file_the_service_mounts_and_none_is_a_value():
    declared = COMPOSE["secrets"]
    for name, service in SERVICES.items():
        env = service.get("environment", {})
        for key, value in env.items():
            if any(word in key for word in ("TOKEN", "PASSWORD", "SECRET")):
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret as a value"
                secret = value.removeprefix("/run/secrets/")
                assert value.startswith("/run/secrets/") and secret in service["secrets"], (name, key)
        for secret in service.get("secrets", []):
            assert "file" in declared[secret] and declared[secret]["file"].startswith("./secrets/")
    assert "/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_workers_read_the_config_beside_it_with_their_credentials_from_those_files(tmp_path):
    worker = SERVICES["worker"]
    assert "./feeds.yaml:/config/feeds.yaml:ro" in worker["volumes"]
    env = dict(worker["environment"])
    assert env["SYNDICATE_CONFIG"] == "/config/feeds.yaml"
    config = parse_config((ROOT / "feeds.yaml").read_text(), "feeds.yaml", environ=env)
    assert str(config.state) == env["SYNDICATE_STATE"]  # the URL wins over the file's SQLite path
    refs = {name: t.secret_ref for name, t in config.targets.items() if t.enabled}
    for name, ref in refs.items():
        assert f"{ref.env}_FILE" in env, f"target {name}: the workers have no {ref.env}_FILE"


def test_the_build_context_leaves_out_state_secrets_and_the_development_trees():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", "state", "secrets", "*.db", "node_modules"} <= ignored
    dockerfile = (ROOT / "Dockerfile").read_text()
    for copied in ("pyproject.toml", "README.md", "syndicate", "feeds.yaml"):
        assert copied in dockerfile and copied not in ignored
