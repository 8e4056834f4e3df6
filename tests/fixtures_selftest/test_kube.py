"""The kube-apiserver fixture: it answers kubectl, and it calls a webhook registered by URL on every create.

The webhook here is a 20-line AdmissionReview responder, not sigward: this checks the fixture's wiring
(URL client config, caBundle, namespace selector), which the admission end-to-end tests then rely on.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.fixtures.kube import KubeCluster
from tests.fixtures.loopback import serve
from tests.fixtures.pki import make_ca, make_server_cert

DENY_MESSAGE = "fixture webhook says no"


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        type(self).seen.append(request)
        name = request["object"]["metadata"].get("name", "")
        allowed = not name.startswith("deny")
        response: dict[str, Any] = {"uid": request["uid"], "allowed": allowed}
        if not allowed:
            response["status"] = {"code": 403, "message": DENY_MESSAGE}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_url(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    ca = make_ca(tmp_path / "ca")
    cert = make_server_cert(tmp_path / "ca", ca)
    httpd = serve(_Handler, "fixture-webhook", tls=cert)
    yield f"https://127.0.0.1:{httpd.server_address[1]}/validate", ca.cert_file.read_bytes()
    httpd.shutdown()
    httpd.server_close()


def test_kubectl_talks_to_the_api_server(kube_cluster: KubeCluster) -> None:
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.37.")
    assert kube_cluster.start_seconds > 0
    namespaces = {n["metadata"]["name"] for n in kube_cluster.get_json("namespaces")["items"]}
    assert {"default", "kube-system"} <= namespaces


def test_webhook_registered_by_url_is_called(kube_cluster: KubeCluster,
                                              webhook_url: tuple[str, bytes]) -> None:
    url, ca_pem = webhook_url
    ns = f"selftest-{secrets.token_hex(3)}"
    kube_cluster.kubectl("create", "namespace", ns)
    kube_cluster.kubectl("label", "namespace", ns, f"selftest-{ns}=true")
    name = f"selftest-{ns}.sigward.dev"
    kube_cluster.apply({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 10,
            "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
            "namespaceSelector": {"matchLabels": {f"selftest-{ns}": "true"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"]}],
        }],
    })
    try:
        def pod(pod_name: str) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name, "namespace": ns},
                    "spec": {"containers": [{"name": "c", "image": "registry.example/app:v1"}]}}

        _Handler.seen.clear()
        kube_cluster.apply(pod("allow-me"))
        assert kube_cluster.get_json("pod", "allow-me", "-n", ns)["metadata"]["name"] == "allow-me"
        refused = kube_cluster.apply(pod("deny-me"), check=False)
        assert refused.returncode != 0
        assert DENY_MESSAGE in refused.stderr
        assert [r["object"]["metadata"]["name"] for r in _Handler.seen] == ["allow-me", "deny-me"]
        assert all(r["namespace"] == ns and r["operation"] == "CREATE" for r in _Handler.seen)
        # Outside the selected namespace the webhook is not consulted.
        kube_cluster.apply({**pod("deny-elsewhere"), "metadata": {"name": "deny-elsewhere",
                                                                 "namespace": "default"}})
        assert len(_Handler.seen) == 2
    finally:
        kube_cluster.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")
