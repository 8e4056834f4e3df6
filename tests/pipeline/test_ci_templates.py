"""The CI templates (examples/hello-service/ci/*.yml) run as written (issue 12 item 4).

Each template's steps are executed the way the CI would run them: in a fresh copy of the service's
repository (examples/hello-service as the repository root, committed and tagged), with a new virtualenv
on PATH in place of setup-python, with the CI's variables set, and with ``SIGWARD_INSTALL`` naming the
wheel sigward's own release script (``.ci/release``) builds. Only what cannot exist here is replaced:
ghcr.io/GitLab's registry by the local docker-registry, GitHub's/GitLab's OIDC token and the public-good
Sigstore by the local stack, distroless by a base signed as distroless. ``uses:`` steps are GitHub's own
(checkout, setup-python, upload-artifact); the paths upload-artifact keeps must exist afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.jwt_tokens import GITHUB_REPOSITORY, GITHUB_WORKFLOW_REF
from tests.pipeline.test_seed_pipeline import BASE_IDENTITY, _base_image

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "examples" / "hello-service"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(["bash", str(ROOT / ".ci" / "release"), str(dist)], check=True, timeout=300,
                   capture_output=True)
    (whl,) = dist.glob("sigward-*-py3-none-any.whl")
    sums = (dist / "SHA256SUMS").read_text()
    assert whl.name in sums
    return whl


@pytest.fixture(scope="module")
def ci_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """setup-python's stand-in: a new virtualenv (sharing the interpreter's installed packages, so pip only
    adds what is missing) whose bin directory goes first on PATH."""
    venv = tmp_path_factory.mktemp("ci-python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True,
                   timeout=120)
    return venv


def _service_repo(dest: Path) -> Path:
    """The service's repository: examples/hello-service at its root, committed and tagged 0.5.0."""
    shutil.copytree(SERVICE, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git = ["git", "-C", str(dest), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release 0.5.0"], check=True)
    subprocess.run([*git, "tag", "0.5.0"], check=True)
    return dest


def _env(venv: Path, home: Path, extra: dict[str, str]) -> dict[str, str]:
    own = {str(Path(sys.executable).parent)}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in own]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "CI_", "ACTIONS_", "SIGSTORE_", "COSIGN_", "EXPECTED_"))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH", "SOURCE_DATE_EPOCH", "OUT_DIR", "REGISTRY")}
    env.update({"PATH": os.pathsep.join([str(venv / "bin"), *path]), "VIRTUAL_ENV": str(venv),
                "DOCKER_CONFIG": str(home / "docker"), "HOME": str(home)})
    env.update(extra)
    return env


def _expand_github(text: str, context: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return context[m.group(1).strip()]

    return re.sub(r"\$\{\{([^}]*)\}\}", sub, text)


def test_github_template(registry: Any, sigstore_stack: Any, wheel: Path, ci_python: Path,
                         tmp_path: Path) -> None:
    stack = sigstore_stack
    base = _base_image(registry, stack, "mirror/distroless-gh", sign_as=BASE_IDENTITY)
    repo = _service_repo(tmp_path / "repo")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    summary = tmp_path / "step-summary.md"
    context = {  # the expressions the template uses
        "vars.SIGWARD_INSTALL": f"sigward[pipeline] @ {wheel.as_uri()}",
        "github.repository_owner": "example-org", "runner.temp": str(runner_temp),
        "secrets.GITHUB_TOKEN": "ghs_not-a-real-token", "github.actor": "release-bot",
    }
    workflow = yaml.safe_load((SERVICE / "ci" / "github-release.yml").read_text())
    job = workflow["jobs"]["release"]
    assert job["permissions"]["id-token"] == "write"
    job_env = {k: _expand_github(str(v), context) for k, v in job["env"].items()}
    assert job_env["REGISTRY"] == "ghcr.io/example-org"
    # What GitHub Actions sets for a tag push of release.yml, then the local stand-ins.
    env = _env(ci_python, tmp_path / "home", {
        **job_env,
        "GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/0.5.0", "GITHUB_REPOSITORY": GITHUB_REPOSITORY,
        "GITHUB_WORKFLOW_REF": GITHUB_WORKFLOW_REF, "GITHUB_SHA": "a" * 40, "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "REGISTRY": f"{registry.host}/example-org", "BASE_IMAGE": base,
        "TRUSTED_ROOT": str(stack.trusted_root), "SIGNING_CONFIG": str(stack.signing_config),
        "SIGSTORE_ID_TOKEN": stack.minter.mint_github(lifetime=3600),
    })
    uses = []
    for step in job["steps"]:
        if "uses" in step:
            uses.append(step)
            continue
        script = _expand_github(step["run"], context)
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"step {step['name']!r} failed:\n{p.stderr[-4000:]}\n{p.stdout[-2000:]}"
    # The install step put sigward (the wheel, not this checkout) into the CI's Python.
    where = subprocess.run([str(ci_python / "bin" / "python"), "-c",
                            "import sigward; print(sigward.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert str(ci_python) in where.stdout and str(ROOT) not in where.stdout
    assert "sigward verify" in summary.read_text()
    (upload,) = [s for s in uses if s["uses"].startswith("actions/upload-artifact")]
    for line in _expand_github(upload["with"]["path"], context).split():
        assert Path(line).is_file(), line
    artifacts = dict(x.split("=", 1) for x in (runner_temp / "release" / "artifacts.env").read_text().split())
    assert artifacts["IMAGE"].startswith(f"{registry.host}/example-org/hello-service@sha256:")


def test_gitlab_template(registry: Any, sigstore_stack: Any, wheel: Path, ci_python: Path,
                         tmp_path: Path) -> None:
    stack = sigstore_stack
    base = _base_image(registry, stack, "mirror/distroless-gl", sign_as=BASE_IDENTITY)
    repo = _service_repo(tmp_path / "repo")
    config = yaml.safe_load((SERVICE / "ci" / "gitlab-ci.yml").read_text())
    job = config["release"]
    assert "SIGSTORE_ID_TOKEN" in job["id_tokens"]
    project = "example-group/hello-service"
    identity = f"https://gitlab.com/{project}//.gitlab-ci.yml@refs/tags/0.5.0"
    ci = {  # what GitLab sets for a tag pipeline, then the local stand-ins
        "GITLAB_CI": "true", "CI_COMMIT_TAG": "0.5.0", "CI_PROJECT_DIR": str(repo),
        "CI_PROJECT_PATH": project,
        "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_URL": f"https://gitlab.com/{project}",
        "CI_COMMIT_SHA": "b" * 40, "CI_REGISTRY": registry.host,
        "CI_REGISTRY_IMAGE": f"{registry.host}/{project}", "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_REGISTRY_PASSWORD": "not-a-real-password",
        "SIGWARD_INSTALL": f"sigward[pipeline] @ {wheel.as_uri()}",
        "SIGSTORE_ID_TOKEN": stack.minter.mint(identity, issuer="https://gitlab.com", email=None),
        "TRUSTED_ROOT": str(stack.trusted_root), "SIGNING_CONFIG": str(stack.signing_config),
    }
    # GitLab expands $VAR references to CI variables in the job's variables.
    variables = {k: re.sub(r"\$(\w+)", lambda m: ci.get(m.group(1), m.group(0)), str(v))
                 for k, v in job["variables"].items()}
    assert variables["REGISTRY"] == f"{registry.host}/{project}"
    env = _env(ci_python, tmp_path / "home", {**variables, **ci, "BASE_IMAGE": base})
    p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(job["script"])],
                       cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"script failed:\n{p.stderr[-4000:]}\n{p.stdout[-2000:]}"
    for path in job["artifacts"]["paths"]:
        assert (repo / path).is_file(), path
    consumer = [line for line in p.stdout.splitlines() if line.startswith("sigward verify")]
    assert len(consumer) == 2
    assert all("--certificate-oidc-issuer https://gitlab.com" in c for c in consumer)
    assert all("https://gitlab\\.com/example-group/hello-service//" in c for c in consumer), consumer
