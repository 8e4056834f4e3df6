"""Keys held somewhere else: cloud KMS, HashiCorp Vault transit, PKCS#11 tokens, Kubernetes secrets.

One module per key-reference scheme (``awskms``, ``gcpkms``, ``azurekms``, ``hashivault``, ``pkcs11``,
``k8s``), each imported only when a reference with its scheme is used, and each importing its client
library (boto3, python-pkcs11, …, installed through the ``sigward[<extra>]`` extras) only inside its
functions. URI forms, hash selection and key types follow cosign (sigstore's ``pkg/signature/kms/*``
and cosign's ``pkg/cosign/pkcs11key``); ``base`` holds what the providers share.
"""
