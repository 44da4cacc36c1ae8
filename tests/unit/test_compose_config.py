"""The multi-node deployment in compose/ stays valid and keeps its shape.

`docker compose config` needs no Docker engine, only the CLI and its compose plugin; the
tests that call it are skipped, saying why, when either is missing. The static checks of
the Dockerfile, the proxy configuration and .env.example run everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
TLS_OVERLAY = COMPOSE_DIR / "docker-compose.tls.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"

# Every variable of CONTRACT §1, which .env.example must mention (set, or listed as fixed).
CONTRACT_VARIABLES = [
    "DATABASE_URL",
    "REDIS_URL",
    "MEILI_URL",
    "MEILI_MASTER_KEY",
    "ANDON_DATA_DIR",
    "ANDON_HOST",
    "ANDON_PORT",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_POOL_TIMEOUT",
    "DB_POOL_RECYCLE",
    "WS_PING_INTERVAL",
    "WS_PONG_TIMEOUT",
    "EDIT_WINDOW_SECONDS",
    "TYPING_TIMEOUT",
    "RATE_LIMIT_PER_SECOND",
    "RATE_LIMIT_BURST",
    "TOKEN_TTL_HOURS",
    "ALLOWED_ORIGINS",
    "VAPID_PRIVATE_KEY",
    "VAPID_SUBJECT",
    "DISPLAY_TIMEZONE",
    "FILE_STORAGE",
    "S3_ENDPOINT_URL",
    "S3_BUCKET",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "MAX_UPLOAD_BYTES",
    "PUSH_ALLOW_PRIVATE_ENDPOINTS",
]
SECRET_VARIABLES = ["POSTGRES_PASSWORD", "MEILI_MASTER_KEY"]
ANDON_SERVICES = ["migrate", "api", "worker"]
ROOT_USERS = {"", "root", "0", "0:0", "root:root"}


# --- helpers --------------------------------------------------------------------------


def _compose_unavailable_reason() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, env=_clean_env()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` did not run: {exc}"
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[0]
        return f"the docker compose plugin is missing (`docker compose version`: {said})"
    return None


def _clean_env() -> dict[str, str]:
    """The test's own environment must not leak into interpolation (DATABASE_URL, COMPOSE_FILE...)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    for name in ("DOCKER_CONFIG", "DOCKER_CLI_PLUGIN_EXTRA_DIRS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _compose(*args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), env_file: Path | str = ENV_EXAMPLE):
    command = ["docker", "compose"]
    for f in files:
        command += ["-f", str(f)]
    command += ["--env-file", str(env_file), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=_clean_env())


needs_compose = pytest.mark.skipif(
    _compose_unavailable_reason() is not None, reason=str(_compose_unavailable_reason())
)


@pytest.fixture(scope="module")
def config() -> dict:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _depends(service: dict, name: str) -> str | None:
    dependency = (service.get("depends_on") or {}).get(name)
    return None if dependency is None else dependency.get("condition")


def _healthcheck_text(service: dict) -> str:
    check = service.get("healthcheck") or {}
    assert not check.get("disable"), "health check disabled"
    test = check.get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def _instructions(dockerfile: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _final_stage(dockerfile: str) -> list[str]:
    """Instructions of the last build stage."""
    lines = _instructions(dockerfile)
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    return lines[last_from:]


# --- docker compose config --------------------------------------------------------------


@needs_compose
def test_compose_file_validates_with_the_example_env():
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


@needs_compose
def test_tls_overlay_validates_and_publishes_https():
    result = _compose("config", "--format", "json", files=(COMPOSE_FILE, TLS_OVERLAY))
    assert result.returncode == 0, result.stderr
    proxy = json.loads(result.stdout)["services"]["proxy"]
    assert {p["target"] for p in proxy["ports"]} == {8080, 8443}
    mounts = {v["target"]: v["source"] for v in proxy["volumes"]}
    assert mounts["/etc/nginx/nginx.conf"].endswith("nginx-tls.conf")
    assert "/etc/nginx/tls" in mounts


@needs_compose
def test_missing_secrets_fail_loudly():
    result = _compose("config", "--quiet", env_file=os.devnull)
    assert result.returncode != 0
    assert "is missing a value" in result.stderr
    assert ".env" in result.stderr


@needs_compose
def test_all_services_are_there(config):
    expected = {"preflight", "postgres", "redis", "meilisearch", "migrate", "api", "worker", "proxy"}
    assert expected <= set(config["services"])


@needs_compose
def test_two_api_replicas(config):
    services = config["services"]
    api_services = [name for name in services if name == "api" or re.fullmatch(r"api[-_]?\d+", name)]
    replicas = sum((services[name].get("deploy") or {}).get("replicas", 1) for name in api_services)
    assert replicas >= 2
    api = services["api"]
    assert api["command"][:1] == ["serve"]
    assert "0.0.0.0" in api["command"] and "8000" in api["command"]
    assert not api.get("ports"), "api replicas are reached through the proxy only"
    assert not api.get("container_name"), "a fixed container name prevents replicas"


@needs_compose
def test_migrate_is_one_shot_and_gates_api_and_worker(config):
    services = config["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert _depends(migrate, "postgres") == "service_healthy"
    for name in ("api", "worker"):
        assert _depends(services[name], "migrate") == "service_completed_successfully", name
    for dependency in ("redis", "meilisearch"):
        assert _depends(services["api"], dependency) == "service_healthy", dependency


@needs_compose
def test_preflight_gates_everything_that_stores_a_secret(config):
    services = config["services"]
    assert services["preflight"].get("restart", "no") == "no"
    for name in ("postgres", "meilisearch", "migrate"):
        assert _depends(services[name], "preflight") == "service_completed_successfully", name


@needs_compose
def test_worker_runs_the_worker(config):
    assert config["services"]["worker"]["command"] == ["worker"]


@needs_compose
def test_health_checks(config):
    services = config["services"]
    assert "pg_isready" in _healthcheck_text(services["postgres"])
    assert "ping" in _healthcheck_text(services["redis"])
    assert "/health" in _healthcheck_text(services["meilisearch"])
    assert "/readyz" in _healthcheck_text(services["api"])
    assert "health" in _healthcheck_text(services["proxy"])


@needs_compose
def test_proxy_fronts_the_api(config):
    proxy = config["services"]["proxy"]
    assert "nginx" in proxy["image"]
    assert [p["target"] for p in proxy["ports"]] == [8080]
    assert _depends(proxy, "api") == "service_healthy"
    assert {v["target"] for v in proxy["volumes"]} >= {"/etc/nginx/nginx.conf", "/etc/nginx/andon"}
    for volume in proxy["volumes"]:
        assert volume.get("read_only"), volume["target"]


@needs_compose
def test_nothing_we_choose_runs_as_root(config):
    services = config["services"]
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "compose/Dockerfile", name
            assert str(service.get("user", "")) not in ROOT_USERS, name
    for name in [*ANDON_SERVICES, "proxy"]:
        assert str(services[name].get("user", "")) not in ROOT_USERS, name
        assert services[name].get("cap_drop") == ["ALL"], name


@needs_compose
def test_api_and_worker_share_the_data_dir(config):
    services = config["services"]

    def data_volume(name: str) -> str:
        service = services[name]
        data_dir = service["environment"]["ANDON_DATA_DIR"]
        (mount,) = [v for v in service["volumes"] if v["target"] == data_dir]
        assert mount["type"] == "volume"
        return mount["source"]

    assert data_volume("api") == data_volume("worker")


@needs_compose
def test_application_settings(config):
    example = _env_example()
    for name in ANDON_SERVICES:
        env = config["services"][name]["environment"]
        assert env["ALLOWED_ORIGINS"] == example["ALLOWED_ORIGINS"], name
        assert env["PUSH_ALLOW_PRIVATE_ENDPOINTS"] == "false", name
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["MEILI_URL"] == "http://meilisearch:7700"
        assert env["MEILI_MASTER_KEY"] == example["MEILI_MASTER_KEY"]


@needs_compose
def test_data_stores_are_not_published(config):
    services = config["services"]
    for name in ("postgres", "redis", "meilisearch"):
        assert not services[name].get("ports"), name
        assert list(services[name]["networks"]) == ["backend"], name
    assert config["networks"]["backend"].get("internal") is True


# --- static checks (no docker needed) -------------------------------------------------


def test_env_example_lists_every_contract_variable():
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    missing = [name for name in CONTRACT_VARIABLES if not re.search(rf"^#?\s*{name}=", text, re.MULTILINE)]
    assert not missing


def test_env_example_holds_placeholders_not_secrets():
    example = _env_example()
    for name in SECRET_VARIABLES:
        assert "CHANGE_ME" in example[name], name
    assert "CHANGE_ME" in example["ALLOWED_ORIGINS"]
    assert "CHANGE_ME" in example["VAPID_SUBJECT"]
    assert example["VAPID_PRIVATE_KEY"] == ""
    assert example.get("S3_SECRET_KEY", "") == ""
    assert "PUSH_ALLOW_PRIVATE_ENDPOINTS" not in example, "pinned to false in docker-compose.yml"


def _preflight(**overrides: str) -> subprocess.CompletedProcess:
    """Run the preflight service's script with /bin/sh, as its container would."""
    yaml = pytest.importorskip("yaml")
    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["preflight"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script = service["command"][0].replace("$$", "$")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "POSTGRES_PASSWORD": "a" * 64,
        "MEILI_MASTER_KEY": "b" * 64,
        "ALLOWED_ORIGINS": "https://andon.example.com",
        "VAPID_SUBJECT": "mailto:ops@example.com",
        "DATABASE_URL": "",
        "FILE_STORAGE": "local",
        "S3_BUCKET": "",
        "S3_ACCESS_KEY": "",
        "S3_SECRET_KEY": "",
        **overrides,
    }
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30, env=env)


def test_preflight_accepts_a_filled_in_env():
    result = _preflight()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"POSTGRES_PASSWORD": "CHANGE_ME"}, "POSTGRES_PASSWORD still holds the CHANGE_ME"),
        ({"MEILI_MASTER_KEY": "CHANGE_ME"}, "MEILI_MASTER_KEY still holds the CHANGE_ME"),
        ({"ALLOWED_ORIGINS": "https://CHANGE_ME.example.invalid"}, "ALLOWED_ORIGINS still holds"),
        ({"VAPID_SUBJECT": "mailto:CHANGE_ME@example.invalid"}, "VAPID_SUBJECT still holds"),
        ({"POSTGRES_PASSWORD": "p@ss/word"}, "unescaped"),
        ({"MEILI_MASTER_KEY": "short"}, "at least 16 bytes"),
        ({"FILE_STORAGE": "s3", "S3_BUCKET": "b"}, "S3_ACCESS_KEY"),
    ],
)
def test_preflight_refuses_placeholders_and_unusable_values(overrides, complaint):
    result = _preflight(**overrides)
    assert result.returncode == 1
    assert complaint in result.stderr


def test_preflight_allows_any_password_with_an_explicit_database_url():
    result = _preflight(POSTGRES_PASSWORD="p@ss/word", DATABASE_URL="postgresql+asyncpg://u:p%40ss@db/andon")
    assert result.returncode == 0, result.stderr


def test_preflight_warns_about_plain_http_origins():
    result = _preflight(ALLOWED_ORIGINS="http://localhost")
    assert result.returncode == 0
    assert "not https" in result.stderr


def test_dockerfile_is_multi_stage_and_runs_unprivileged():
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(froms) >= 3
    assert re.search(r"NODE_IMAGE=node:20", text)
    assert re.search(r"PYTHON_IMAGE=python:3\.11-slim", text)
    assert "npm ci" in text and "npm run build" in text
    assert "pip wheel" in text

    final = _final_stage(text)
    users = [ln.split(None, 1)[1] for ln in final if ln.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any(ln == 'ENTRYPOINT ["andon"]' for ln in final)
    runtime = "\n".join(final)
    for compiler in ("build-essential", "gcc", "g++", "clang"):
        assert compiler not in runtime, f"{compiler} in the runtime stage"
    assert "--no-index" in runtime, "the runtime installs only the wheels built before"


def test_dockerfile_copies_only_what_the_build_needs():
    instructions = _instructions(DOCKERFILE.read_text(encoding="utf-8"))
    copies = [ln for ln in instructions if ln.upper().startswith("COPY ")]
    for line in copies:
        sources = line.split()[1:-1]
        sources = [s for s in sources if not s.startswith("--")]
        assert "." not in sources and "./" not in sources, f"copies the whole context: {line}"
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for excluded in ("webclient/node_modules", "api/webdist", "**/.env"):
        assert excluded in ignore


def test_proxy_passes_websockets_and_keeps_tokens_out_of_logs():
    upstream = (COMPOSE_DIR / "nginx" / "upstream.conf").read_text(encoding="utf-8")
    locations = (COMPOSE_DIR / "nginx" / "locations.conf").read_text(encoding="utf-8")
    assert re.search(r"server\s+api:8000\b", upstream)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade", locations)
    assert re.search(r"proxy_set_header\s+Connection\s+\$andon_connection", locations)
    assert re.search(r"map\s+\$http_upgrade\s+\$andon_connection", upstream)
    assert "proxy_http_version 1.1" in locations
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert re.search(rf"proxy_set_header\s+{header}\s", locations), header

    (body_limit,) = re.findall(r"client_max_body_size\s+(\d+)m;", locations)
    assert int(body_limit) >= 20
    ws_block = locations.split("location /ws/", 1)[1].split("}", 1)[0]
    (read_timeout,) = re.findall(r"proxy_read_timeout\s+(\S+);", ws_block)
    assert read_timeout.endswith("h") or int(read_timeout.rstrip("s")) >= 600

    log_format = upstream.split("log_format", 1)[1].split(";", 1)[0]
    for leaky in ("$request ", '$request"', "$request_uri", "$args", "$query_string", "$http_authorization"):
        assert leaky not in log_format, leaky
    for main in ("nginx.conf", "nginx-tls.conf"):
        text = (COMPOSE_DIR / main).read_text(encoding="utf-8")
        assert "include /etc/nginx/andon/upstream.conf;" in text
        assert "include /etc/nginx/andon/locations.conf;" in text
        assert not re.search(r"^\s*access_log\s+(?!off)", text, re.MULTILINE), "log only in andon_json"


# --- rolling restart, against a fake `docker` -------------------------------------------

FAKE_DOCKER = r"""#!/usr/bin/env bash
# Keeps the api containers in $STATE, one id per line; logs every call to $CALLS.
echo "$*" >> "$CALLS"
if [ "$1" = compose ]; then
  shift
  case "$1" in
    ps) cat "$STATE" ;;
    up) want=$(printf '%s\n' "$@" | sed -n 's/^api=\([0-9]*\)$/\1/p')
        while [ "$(wc -l < "$STATE")" -lt "$want" ]; do
          n=$(( $(cat "$COUNTER") + 1 )); echo "$n" > "$COUNTER"; echo "new$n" >> "$STATE"
        done ;;
  esac
  exit 0
fi
case "$1" in
  inspect) echo "${HEALTH:-healthy}" ;;
  stop) ;;
  rm) grep -vx "$2" "$STATE" > "$STATE.tmp" || true; mv "$STATE.tmp" "$STATE" ;;
esac
"""


def _rolling_restart(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER, encoding="utf-8")
    fake.chmod(0o755)
    state, calls, counter = tmp_path / "state", tmp_path / "calls", tmp_path / "counter"
    state.write_text("old1\nold2\n", encoding="utf-8")
    calls.write_text("", encoding="utf-8")
    counter.write_text("0\n", encoding="utf-8")
    result = subprocess.run(
        ["bash", str(COMPOSE_DIR / "rolling-restart.sh"), "api"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "STATE": str(state),
            "CALLS": str(calls),
            "COUNTER": str(counter),
            "DNS_SETTLE": "0",
            **env,
        },
    )
    return result, state.read_text().split(), calls.read_text().splitlines()


def test_rolling_restart_starts_a_replacement_before_stopping_each_replica(tmp_path):
    result, running, calls = _rolling_restart(tmp_path)
    assert result.returncode == 0, result.stderr
    assert running == ["new1", "new2"]
    scale_up = "compose up -d --no-deps --no-recreate --scale api=3 api"
    order = [c for c in calls if c.startswith(("compose up", "stop"))]
    assert order == [scale_up, "stop --time 30 old1", scale_up, "stop --time 30 old2"]


def test_rolling_restart_keeps_the_old_replicas_when_a_new_one_stays_unhealthy(tmp_path):
    result, running, calls = _rolling_restart(tmp_path, HEALTH="unhealthy", HEALTH_TIMEOUT="0")
    assert result.returncode == 1
    assert "old1" in running and "old2" in running
    assert not [c for c in calls if c.startswith("stop")]


# --- the Redis Cluster and replica overlays ----------------------------------------------

CLUSTER_OVERLAY = COMPOSE_DIR / "docker-compose.redis-cluster.yml"
REPLICA_OVERLAY = COMPOSE_DIR / "docker-compose.replica.yml"


def _overlay(path: Path) -> dict:
    import yaml

    loaded: dict = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def test_cluster_overlay_points_the_app_at_three_nodes_and_celery_at_one_redis():
    services = _overlay(CLUSTER_OVERLAY)["services"]
    nodes = [name for name in services if name.startswith("redis-node-")]
    assert len(nodes) == 3
    for name in nodes:
        command = " ".join(services[name]["command"])
        assert "--cluster-enabled yes" in command and services[name]["environment"]["ANNOUNCE"] == name
    init = " ".join(services["redis-cluster-init"]["command"])
    assert "--cluster create" in init and "--cluster-yes" in init
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["REDIS_URL"] == "" and env["REDIS_CLUSTER_NODES"].count(":6379") == 3, name
        assert "redis://redis:6379" in env["CELERY_BROKER_URL"], name
    for name in ("api", "worker"):
        assert _depends(services[name], "redis-cluster-init") == "service_completed_successfully"


def test_replica_overlay_adds_a_streaming_replica_for_the_api():
    services = _overlay(REPLICA_OVERLAY)["services"]
    assert "wal_level=replica" in services["postgres"]["command"]
    replica = services["postgres-replica"]
    script = (COMPOSE_DIR / "replica" / "replica-entrypoint.sh").read_text(encoding="utf-8")
    assert "pg_basebackup" in script and " -R " in script and "hot_standby=on" in script
    assert _depends(replica, "postgres") == "service_healthy"
    assert "@postgres-replica:5432/" in services["api"]["environment"]["DATABASE_REPLICA_URL"]
    assert _depends(services["api"], "postgres-replica") == "service_healthy"


@needs_compose
@pytest.mark.parametrize("overlay", [CLUSTER_OVERLAY, REPLICA_OVERLAY], ids=["redis-cluster", "replica"])
def test_overlays_validate(overlay: Path):
    result = _compose("config", "--quiet", files=(COMPOSE_FILE, overlay))
    assert result.returncode == 0, result.stderr
