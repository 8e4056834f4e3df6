"""sigward: sign and verify OCI artifacts, wire-compatible with cosign."""

__version__ = "0.1.0"
