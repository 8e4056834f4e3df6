"""Manifests as ``kubectl apply -f`` reads them: multi-document YAML, JSON, List kinds, and one clear line
for input that is not a manifest."""

from __future__ import annotations

import json

import pytest

from sigward.cip.documents import DocumentError, load_documents

CIP = """apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: {name}
spec:
  images: [{{glob: "**"}}]
  authorities: [{{static: {{action: pass}}}}]
"""


def test_multi_document_stream_with_empty_documents() -> None:
    data = ("# leading comment\n---\n" + CIP.format(name="a") + "---\n---\n# only a comment\n---\n"
            + CIP.format(name="b") + "---\n").encode()
    docs = load_documents(data, "p.yaml")
    assert [(d.name, d.index, d.kind, d.is_cip) for d in docs] == [
        ("a", 0, "ClusterImagePolicy", True), ("b", 3, "ClusterImagePolicy", True)]
    assert docs[1].where == "p.yaml: document 4"  # the empty documents count, as YAML numbers them
    assert docs[0].label == "clusterimagepolicy/a"
    assert docs[0].group_version == ("policy.sigstore.dev", "v1beta1")


def test_list_kinds_expand() -> None:
    import yaml

    items = [yaml.safe_load(CIP.format(name=n)) for n in ("a", "b")]
    for kind in ("List", "ClusterImagePolicyList"):
        data = json.dumps({"apiVersion": "v1", "kind": kind, "items": items}).encode()
        docs = load_documents(data, "list.json")
        assert [(d.name, d.index, d.item) for d in docs] == [("a", 0, 0), ("b", 0, 1)]
        assert docs[1].where == "list.json: document 1, item 2"


def test_json_document() -> None:
    import yaml

    data = json.dumps(yaml.safe_load(CIP.format(name="j"))).encode()
    (doc,) = load_documents(data, "p.json")
    assert doc.name == "j" and doc.body["spec"]["images"] == [{"glob": "**"}]


def test_timestamps_stay_strings_and_secret_kind() -> None:
    data = (b"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: cosign-system}\n"
            b"stringData: {d: 2024-01-02}\n")
    (doc,) = load_documents(data, "s.yaml")
    assert doc.is_secret and doc.body["stringData"]["d"] == "2024-01-02"


def test_go_yaml_booleans() -> None:
    # go-yaml reads y/n as booleans (PyYAML does not): a string field given `n` is refused, as kubectl does.
    (doc,) = load_documents(b"a: n\nb: Y\nc: 'n'\nd: off\n", "b.yaml")
    assert doc.body == {"a": False, "b": True, "c": "n", "d": False}
    data = CIP.format(name="n").encode()
    (cip,) = load_documents(data, "p.yaml")
    from sigward.cip.validate import render, validate

    want = "json: cannot unmarshal bool into a field of type string: metadata.name"
    assert render(validate(cip.body)) == want


@pytest.mark.parametrize("data, want", [
    (b"a: [1, 2\n", "p.yaml: document 1: invalid YAML:"),
    (CIP.format(name="a").encode() + b"---\nkey: value\n  bad: indent\n",
     "p.yaml: document 2: invalid YAML:"),
    (b"a: 1\na: 2\n", "found duplicate key 'a' (line 2, column 1)"),
    (b"- just\n- a list\n", "p.yaml: document 1: expected a Kubernetes object (a mapping), got a list"),
    (b"{not json", "p.yaml: invalid JSON:"),
    (b"\xff\xfe\x00", "p.yaml: not UTF-8 text"),
    (b"kind: List\nitems: [3]\n", "p.yaml: document 1, item 1: expected a Kubernetes object"),
    (b"!!python/object:os.system x\n", "invalid YAML"),
])
def test_bad_input_is_one_line(data: bytes, want: str) -> None:
    with pytest.raises(DocumentError) as e:
        load_documents(data, "p.yaml")
    assert want in str(e.value)
    assert "\n" not in str(e.value)
