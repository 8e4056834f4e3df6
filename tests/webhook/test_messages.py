"""Denials and warnings word the registry client's library settings as the flags ``admission serve`` takes
(the same words through a real server and registry: test_real_server.py, the private-registry test)."""

from __future__ import annotations

from sigward.webhook import messages as msg
from sigward.webhook.review import ImageSite

REASON = ("TLS certificate of registry reg.example cannot be verified (self-signed); set "
          "StoreOptions.ca_file to trust its CA, or StoreOptions.allow_insecure_registry to skip "
          "verification")
FLAGS = "pass --registry-cacert FILE to trust its CA, or --allow-insecure-registry to skip verification"


def test_a_registry_reason_names_the_webhook_flags() -> None:
    site = ImageSite(image="reg.example/app@sha256:" + "ab" * 32, field="spec.containers[0].image",
                     pointer="/spec/containers/0/image")
    denial, warnings = msg.outcome([msg.failed(site, REASON)])
    assert denial is not None and "StoreOptions" not in denial and FLAGS in denial
    warned = msg.FieldError("failed policy: p", (site.field,), f"{site.image} {REASON}", warning=True)
    denial, warnings = msg.outcome([warned])
    assert denial is None and any(FLAGS in w for w in warnings)
    assert not any("StoreOptions" in w for w in warnings)
