"""Suite-wide fixtures: real registries, a token issuer, a referrers-capable registry, a fault proxy.

The fixtures live in ``tests/fixtures/plugin.py``; importing them here makes them visible to every test
under ``tests/`` without relying on ``pytest_plugins`` (which pytest restricts to top-level conftests).
"""

from tests.fixtures.kube import kube_cluster  # noqa: F401
from tests.fixtures.plugin import (  # noqa: F401
    fault_proxy,
    fixtures_workdir,
    referrers_registry,
    registry,
    registry_ca,
    tls_registry,
    token_registry,
    token_server,
    unique_repo,
)
from tests.fixtures.sigstore_plugin import sigstore_stack, sigstore_stack_past  # noqa: F401
