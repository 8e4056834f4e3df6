"""``--policies-from-cluster`` when a watch's resourceVersion has expired (410 Gone): the webhook lists again
and enforces the cluster's current policies, including a change it never saw as a watch event.

Real components only. The expiry is produced the way it happens in a cluster: the webhook's watch ends
(its server-side timeout, ``--watch-timeout 2s`` here) while the webhook cannot read (the process is
stopped with SIGSTOP), a policy is edited meanwhile, and etcd compacts its history past the webhook's last
resourceVersion (etcd v3's JSON gateway, ``POST /v3/kv/compaction``, what the API server's own periodic
compaction does every 5 minutes). When the webhook resumes its watch from that version the real
kube-apiserver answers ``410 Expired``. This test starts its own etcd + kube-apiserver with
``--watch-cache=false``: with the watch cache on (the shared fixture), the API server answers a resumed
watch from its in-memory event window, which only drops events after 75 s and a full window, so forcing
expiry there would take minutes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.images import push_image
from tests.fixtures.kube import KubeCluster, start_kube
from tests.webhook.reviews import body, pod_spec, workload
from tests.webhook.test_from_cluster import CRDS, _crds
from tests.webhook.world import ServerProcess, key_cip, make_keys, sign_key

POLL_SECONDS = 90.0
WATCH_TIMEOUT = 2  # seconds: each watch ends (and resumes from its resourceVersion) this often


@pytest.fixture(scope="module")
def uncached_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    cluster = start_kube(tmp_path_factory.mktemp("kube-nocache"), apiserver_args=["--watch-cache=false"])
    try:
        yield cluster
    finally:
        cluster.stop()


def _etcd(kube: KubeCluster, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{kube.etcd_url}{path}", data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def _compact(kube: KubeCluster) -> int:
    """Compact etcd at its current revision; returns that revision."""
    header = _etcd(kube, "/v3/kv/range", {"key": base64.b64encode(b"\0").decode()})["header"]
    revision = int(header["revision"])
    _etcd(kube, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


def _review(server: ServerProcess, image: str) -> dict[str, Any]:
    review = server.review("/validations", body(workload("Pod", pod_spec(image))))
    response: dict[str, Any] = review["response"]
    return response


def _until(server: ServerProcess, image: str, check: Any) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        r = _review(server, image)
        if check(r) or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def _allowed(r: dict[str, Any]) -> bool:
    return r["allowed"] is True


def test_an_expired_watch_lists_again_and_enforces_what_changed_meanwhile(
        uncached_kube: KubeCluster, registry: Any, webhook_certs: Path, tmp_path: Path) -> None:
    kube = uncached_kube
    kube.apply({"apiVersion": "v1", "kind": "List", "items": _crds(tmp_path, webhook_certs / "ca.crt")})
    kube.kubectl("wait", "--for=condition=Established", "--timeout=120s", *[f"crd/{n}" for n in CRDS])
    system = f"sigward-exp-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", system)
    key, pub = make_keys(tmp_path / "keys")
    _, other_pub = make_keys(tmp_path / "other-keys")
    repo = f"watch-expiry/app-{secrets.token_hex(3)}"
    digest = push_image(registry, repo, "v1")
    image = f"{registry.host}/{repo}@{digest}"
    sign_key(image, key)
    name = f"expiry-{secrets.token_hex(3)}"
    cip = key_cip(name, f"{registry.host}/{repo}*", pub)
    kube.apply(cip)

    files = tmp_path / "policies"
    files.mkdir()
    server = ServerProcess(files, webhook_certs, "--policies-from-cluster", "--kubeconfig",
                           str(kube.kubeconfig), "--namespace", system, "--allow-http-registry",
                           "--watch-timeout", f"{WATCH_TIMEOUT}s")
    try:
        server.wait_ready(timeout=120)
        r = _until(server, image, _allowed)
        assert _allowed(r), r
        expired = "sigward_admission_watch_expired_total"
        assert server.metric(expired, kind="ClusterImagePolicy") == 0

        # The webhook cannot read while its watch times out server-side; the policy is edited to trust
        # another key, and etcd's history of that edit is compacted away before the webhook watches again.
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(WATCH_TIMEOUT + 3)  # not a timing assertion: lets the open watch end server-side
            cip["spec"]["authorities"][0]["key"]["data"] = other_pub.read_text()
            kube.apply(cip)
            # Two more revisions: even if the edit still reached the open watch, the version it resumes
            # from is then older than the compaction.
            for bump in ("bump-1", "bump-2"):
                kube.kubectl("create", "configmap", bump, "-n", system)
            _compact(kube)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline and server.metric(expired, kind="ClusterImagePolicy") < 1:
            time.sleep(0.2)
        assert server.metric(expired, kind="ClusterImagePolicy") >= 1, server.log.read_text()[-3000:]
        # Listed again: the edit the watch never delivered is enforced.
        r = _until(server, image, lambda r: not _allowed(r))
        assert r["allowed"] is False and f"failed policy: {name}" in r["status"]["message"], r
        assert server.get("/readyz")[0] == 200
        # And watching resumed from the new list: a later edit arrives as an ordinary event.
        cip["spec"]["authorities"][0]["key"]["data"] = pub.read_text()
        kube.apply(cip)
        r = _until(server, image, _allowed)
        assert _allowed(r), r
    finally:
        server.stop()
