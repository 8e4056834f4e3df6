"""The image references a Dockerfile or a Kubernetes manifest names, for ``dockerfile verify`` and
``manifest verify``: which images a build or a deployment would run, found the way cosign finds them.

Pure functions over text: the caller passes the environment used to expand ``$VAR`` in a Dockerfile
(cosign expands build args from earlier ``ARG``/``ENV`` lines, then the process environment).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigward.errors import SigwardError

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class DockerfileImages:
    images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was skipped (scratch, stage names), for the user


def _expand(text: str, env: Mapping[str, str], args: Mapping[str, str]) -> str:
    """``$X``/``${X}`` from the Dockerfile's ARG/ENV first, then ``env``; unknown names expand to ``""``."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return args.get(name, env.get(name, ""))

    return _VAR.sub(sub, text)


def dockerfile_images(text: str, env: Mapping[str, str]) -> DockerfileImages:
    """Every image a Dockerfile pulls: ``FROM`` lines and ``COPY --from=IMAGE``, in order.

    ``scratch`` and references to earlier stages (``FROM base AS app`` … ``FROM app``) are not images.
    """
    out = DockerfileImages()
    args: dict[str, str] = {}
    stages: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        upper = line.upper()
        if upper.startswith("FROM"):
            original = line
            fields = _expand(line[4:], env, args).split()
            for i in range(len(fields) - 1, 0, -1):
                if fields[i].upper() == "AS":
                    if i == len(fields) - 1:
                        raise SigwardError(f'expected stage name after "AS" in line {original!r}')
                    stages.append(fields[i + 1])
                    fields = fields[:i]
                    break
            if not fields:
                raise SigwardError(f"no image found in line {original!r} (is a build arg missing from the "
                                   "environment?)")
            image = fields[-1]
            if image == "scratch":
                out.notes.append("- scratch image ignored")
            elif image in stages:
                out.notes.append(f"- stage reference ignored: {image}")
            else:
                out.images.append(image)
        elif upper.startswith("COPY"):
            for f in _expand(line[4:], env, args).split():
                if "--from=" not in f:
                    continue
                value = f.split("=", 1)[1]
                if value and value not in stages:
                    out.images.append(value)
                break
        elif upper.startswith(("ENV", "ARG")):
            for f in _expand(line[3:], env, args).split():
                if "=" in f:
                    k, v = f.split("=", 1)
                    args[k.strip()] = v.strip()
    return out


def _lower_keys(obj: Any) -> Any:
    return {str(k).lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


def _containers(spec: Any) -> list[str]:
    spec = _lower_keys(spec)
    images: list[str] = []
    for key in ("initcontainers", "containers"):
        for c in spec.get(key) or []:
            image = _lower_keys(c).get("image")
            if isinstance(image, str) and image:
                images.append(image)
    return images


def manifest_images(text: str) -> list[str]:
    """Container images of the Pods, workload templates (Deployment, Job, …) and CronJobs in a
    (multi-document) Kubernetes YAML or JSON manifest: init containers first, as cosign lists them."""
    import yaml

    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        raise SigwardError("unable to extract the container image references in the manifest: "
                           "unable to decode the manifest")
    images: list[str] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SigwardError("unable to extract the container image references in the manifest: "
                               "unable to decode the manifest")
        spec = _lower_keys(_lower_keys(doc).get("spec"))
        images += _containers(spec)
        template = _lower_keys(spec.get("template"))
        images += _containers(template.get("spec"))
        job = _lower_keys(_lower_keys(spec.get("jobtemplate")).get("spec"))
        images += _containers(_lower_keys(job.get("template")).get("spec"))
    return images
