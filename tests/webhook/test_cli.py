"""`sigward admission certs|serve` on the command line: files written, the caBundle printed, usage errors
as one `Error:` line; and the server's packages stay out of every other command."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from cryptography import x509


def sigward(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", *args], capture_output=True, text=True,
                          timeout=60)


def test_certs_writes_ca_and_serving_cert(tmp_path: Path) -> None:
    r = sigward("admission", "certs", "--out", str(tmp_path), "--host", "sigward.sigward-system.svc",
                "--host", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    bundle = base64.b64decode(r.stdout.strip())
    assert bundle == (tmp_path / "ca.crt").read_bytes()
    ca = x509.load_pem_x509_certificate(bundle)
    cert = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["sigward.sigward-system.svc"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600


def test_serve_usage_errors(tmp_path: Path) -> None:
    r = sigward("admission", "serve", "--policies", str(tmp_path / "missing"), "--tls-cert", "x",
                "--tls-key", "y")
    assert r.returncode != 0 and r.stderr.startswith("Error: ") and "missing" in r.stderr
    assert "Traceback" not in r.stderr
    r = sigward("admission", "serve", "--policies", str(tmp_path), "--tls-cert", "x", "--tls-key", "y",
                "--listen", "nonsense")
    assert r.returncode != 0 and "HOST:PORT" in r.stderr
    r = sigward("admission", "serve", "--tls-cert", "x", "--tls-key", "y")
    assert r.returncode != 0 and "--policies DIR and/or --policies-from-cluster" in r.stderr
    r = sigward("admission", "serve", "--policies", str(tmp_path), "--kubeconfig", str(tmp_path / "k"),
                "--tls-cert", "x", "--tls-key", "y")
    assert r.returncode != 0 and "go with --policies-from-cluster" in r.stderr
    r = sigward("admission", "serve", "--policies-from-cluster", "--kubeconfig", str(tmp_path / "k"),
                "--tls-cert", "x", "--tls-key", "y")
    assert r.returncode != 0 and r.stderr.startswith("Error: ") and "no such file" in r.stderr


def test_other_commands_do_not_import_the_server() -> None:
    code = ("import sys; from sigward.cli.main import build_parser; build_parser('verify'); "
            "build_parser('admission'); "
            "print(sorted(m for m in ('aiohttp', 'prometheus_client', 'redis', 'sigward.webhook.server') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_file_based_serving_does_not_import_the_kubernetes_client() -> None:
    code = ("import sys; import sigward.webhook.server, sigward.webhook.loading, sigward.webhook.service; "
            "from sigward.cli.main import build_parser; build_parser('admission'); "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
