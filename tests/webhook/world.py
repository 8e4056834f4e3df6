"""The real world the webhook tests and bench/bench_admission.py run in: images pushed to a real registry
and signed by the sigward CLI (key, keyless through the local Sigstore stack; bundle and legacy formats),
ClusterImagePolicy/TrustRoot/Secret manifests written as files, and `sigward admission serve` running as
its own process over HTTPS."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

PASSWORD = "test-password"  # test keys only
IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
ISSUER = GITHUB_ISSUER


def sigward(*args: str | Path, env: dict[str, str] | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, **(env or {})}
    full_env.pop("COSIGN_REPOSITORY", None)
    r = subprocess.run([sys.executable, "-m", "sigward", *map(str, args)], capture_output=True, text=True,
                       env=full_env, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"sigward {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


def make_keys(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    sigward("generate-key-pair", "--output-key-prefix", directory / "cosign")
    return directory / "cosign.key", directory / "cosign.pub"


def sign_key(image: str, key: Path, *, legacy: bool = False) -> None:
    sigward("sign", "--yes", "--tlog-upload=false", "--key", key,
            *(["--new-bundle-format=false"] if legacy else []), image)


def sign_keyless(image: str, stack: Any, *, legacy: bool = False) -> None:
    token = stack.minter.mint_github()
    if legacy:
        sigward("sign", "--yes", "--identity-token", token, "--new-bundle-format=false",
                "--use-signing-config=false", "--fulcio-url", stack.fulcio_url,
                "--rekor-url", stack.rekor_url,
                "--trusted-root", stack.trusted_root, image)
    else:
        sigward("sign", "--yes", "--identity-token", token, "--trusted-root", stack.trusted_root,
                "--signing-config", stack.signing_config, image)


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def trustroot(name: str, stack: Any) -> dict[str, Any]:
    """A TrustRoot (``spec.sigstoreKeys``) for the local Sigstore stack: its Fulcio chain, Rekor and CT log
    keys and its TSA chain, as policy-controller's TrustRoot carries them (base64 PEM)."""
    log = {"baseURL": stack.rekor_url, "hashAlgorithm": "sha-256", "publicKey": _b64(stack.rekor_public_key)}
    return {"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": name},
            "spec": {"sigstoreKeys": {
                "certificateAuthorities": [{"subject": {"organization": "sigstore.dev",
                                                        "commonName": "sigstore"},
                                            "uri": stack.fulcio_url, "certChain": _b64(stack.fulcio_chain)}],
                "tLogs": [log],
                "ctLogs": [{"baseURL": stack.url, "hashAlgorithm": "sha-256",
                            "publicKey": _b64(stack.ctlog_public_key)}],
                "timestampAuthorities": [{"subject": {"organization": "local", "commonName": "tsa"},
                                          "uri": stack.tsa_url, "certChain": _b64(stack.tsa_chain)}]}}}


def key_cip(name: str, glob: str, pub: Path, *, mode: str = "enforce") -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"mode": mode, "images": [{"glob": glob}],
                     "authorities": [{"key": {"data": pub.read_text()}}]}}


def keyless_cip(name: str, glob: str, trustroot_name: str, *, subject: str = IDENTITY,
                mode: str = "enforce") -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"mode": mode, "images": [{"glob": glob}],
                     "authorities": [{"keyless": {"trustRootRef": trustroot_name,
                                                  "identities": [{"issuer": ISSUER, "subject": subject}]},
                                      "ctlog": {"trustRootRef": trustroot_name}}]}}


def write_policies(directory: Path, docs: Sequence[dict[str, Any]], name: str = "policies.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    tmp.replace(path)
    return path


class ServerProcess:
    """``sigward admission serve`` in a child process on a free port."""

    def __init__(self, policies: Path, certs: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.certs = certs
        self.log = policies.parent / f"server-{time.monotonic_ns()}.log"
        self._log = self.log.open("w")
        cmd = [sys.executable, "-m", "sigward", "admission", "serve", "--policies", str(policies),
               "--tls-cert", str(certs / "tls.crt"), "--tls-key", str(certs / "tls.key"),
               "--listen", "127.0.0.1:0", "--reload-interval", "200ms", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log,
                                     env={**os.environ, **(env or {})})
        self.port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.port:
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log.read_text()}")
            else:
                time.sleep(0.05)
        assert self.port, self.log.read_text()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"server not ready:\n{self.log.read_text()}")

    def request(self, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except urllib.error.URLError as e:
            # Say why the server is not answering: its exit status and its log (a bare "connection
            # refused" once left a CI failure unexplained).
            raise AssertionError(f"{method} {path}: {e.reason}; server exit status {self.proc.poll()}; "
                                 f"its log:\n{self.log.read_text()[-4000:]}") from e

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def review(self, path: str, body: bytes) -> dict[str, Any]:
        status, data = self.request("POST", path, body)
        assert status == 200, data
        out: dict[str, Any] = json.loads(data)
        return out

    def metric(self, name: str, **labels: str) -> float:
        total = 0.0
        for line in self.get("/metrics")[1].decode().splitlines():
            head, _, value = line.rpartition(" ")
            if line.startswith("#") or head.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
