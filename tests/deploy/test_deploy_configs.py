"""The deploy files (deploy/docker, deploy/k8s) stay consistent with the code and with Dagster's schema."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest
import yaml
from dagster import Definitions
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
K8S = ROOT / "deploy" / "k8s"
DEPLOY_FILES = [DOCKER / "Dockerfile", DOCKER / "docker-compose.yaml", DOCKER / "dagster.yaml",
                DOCKER / "workspace.yaml", K8S / "values.yaml"]


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())


def _grpc_target(args: list[str]) -> tuple[str, str]:
    return args[args.index("-m") + 1], args[args.index("-a") + 1]


def test_compose_services_exist_and_depend_on_postgres():
    services = _compose()["services"]
    assert {"postgres", "perpetua_code", "dagster_webserver", "dagster_daemon"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    for name in ("perpetua_code", "dagster_webserver", "dagster_daemon"):
        assert "postgres" in services[name]["depends_on"], name


def test_workspace_points_at_the_grpc_service():
    server = yaml.safe_load((DOCKER / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    code = _compose()["services"]["perpetua_code"]["command"]
    assert server["host"] == "perpetua_code"
    assert str(server["port"]) == code[code.index("-p") + 1]


@pytest.mark.parametrize("source", ["compose", "helm"])
def test_grpc_target_is_a_definitions(source):
    if source == "compose":
        args = _compose()["services"]["perpetua_code"]["command"]
    else:
        values = yaml.safe_load((K8S / "values.yaml").read_text())
        args = values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"]
    module, attr = _grpc_target(args)
    assert isinstance(getattr(importlib.import_module(module), attr), Definitions)


def test_env_vars_are_set_in_compose_or_documented():
    env = _compose()["x-perpetua-env"]
    readme = (ROOT / "README.md").read_text()
    text = "\n".join(p.read_text() for p in DEPLOY_FILES)
    names = set(re.findall(r"\b((?:PERPETUA|DAGSTER)_[A-Z0-9_]+)", text))
    assert names, "found no variables: the pattern is broken"
    missing = sorted(n for n in names if n not in env and f"`{n}" not in readme)
    assert not missing, f"neither set in compose nor documented in README.md: {missing}"


def test_instance_yaml_passes_dagsters_schema(tmp_path):
    shutil.copyfile(DOCKER / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"]
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    launcher = importlib.import_module(config["run_launcher"]["module"])
    assert hasattr(launcher, config["run_launcher"]["class"])


def test_dockerfile_copy_sources_exist():
    sources = []
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    assert sources
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, missing


def test_no_secret_values_in_deploy_files():
    for path in DEPLOY_FILES:
        for line in path.read_text().splitlines():
            assert not re.search(r"PASSWORD:\s*['\"]?\w", line) or "${" in line, (path, line)


def test_the_k8s_image_pins_dagster_k8s_to_the_installed_dagster_libraries():
    from importlib.metadata import version

    pin = f'EXTRA_PIP="dagster-k8s=={version("dagster-postgres")}"'
    for path in (ROOT / "deploy" / "docker" / "Dockerfile", ROOT / "deploy" / "k8s" / "values.yaml"):
        assert pin in path.read_text(), f"{path}: the dagster-k8s build arg must match dagster-postgres ({pin})"
