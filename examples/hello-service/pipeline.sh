#!/usr/bin/env bash
# The seed pipeline for hello-service, in one script that CI (or a laptop) runs:
#
#   1. test the service
#   2. verify the base image, then build the service image on it (by digest) and push it by digest
#   3. generate the image's SBOM (CycloneDX, cyclonedx-py) and attest it, keyless
#   4. sign the image keyless with -a imageRef=<git ref>
#   5. package the chart with the image digest in its values, push it, sign it with -a chartVersion=<v>
#   6. verify both as a consumer would, and print the two commands consumers run
#
# Everything it prints or writes that names an artifact is a digest reference; build outputs go to
# $OUT_DIR (a fresh temporary directory by default), never into the repository.
#
# Inputs (environment):
#   REGISTRY            where to push, e.g. ghcr.io/example-org (required)
#   IMAGE_REPO          image repository            (default: $REGISTRY/hello-service)
#   CHART_NAMESPACE     chart namespace, Helm-style (default: $REGISTRY/charts → $REGISTRY/charts/hello-service)
#   VERSION             the release's SemVer         (default: from GIT_REF refs/tags/X, else pyproject.toml)
#   GIT_REF             recorded as imageRef=…       (default: $GITHUB_REF, GitLab's ref, or refs/tags/$VERSION)
#   CHART_VERSION       the chart's SemVer           (default: chart/Chart.yaml version)
#   BASE_IMAGE          base image; pin it by digest (default: gcr.io/distroless/python3-debian12:nonroot,
#                       resolved to a digest once, with a warning)
#   BASE_KEY            verify the base with this public key, or else with
#   BASE_IDENTITY / BASE_OIDC_ISSUER  (default: distroless's keyless@distroless.iam.gserviceaccount.com /
#                       https://accounts.google.com)
#   BASE_TRUSTED_ROOT   trusted_root.json for the base's signatures (default: TRUSTED_ROOT, else public good)
#   TRUSTED_ROOT, SIGNING_CONFIG   a private Sigstore deployment (default: the public-good instance)
#   EXPECTED_IDENTITY_REGEXP, EXPECTED_OIDC_ISSUER   who consumers expect to have signed
#                       (default: derived from GitHub Actions or GitLab CI variables)
#   SIGSTORE_ID_TOKEN   identity token (GitLab id_tokens); GitHub Actions needs none (id-token: write)
#   OUT_DIR             build outputs (default: mktemp -d)
#   SIGWARD             the sigward command (default: sigward)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SIGWARD="${SIGWARD:-sigward}"
sw() { $SIGWARD "$@"; }  # unquoted on purpose: SIGWARD may be "python3 -m sigward"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'pipeline: %s\n' "$*" >&2; exit 1; }
# A regexp matching exactly the text given (for identities derived from CI variables).
re_escape() { printf '%s' "$1" | sed -e 's/[][\.*^$()+?{}|]/\\&/g'; }
is_digest_ref() { [[ "$1" =~ @sha256:[0-9a-f]{64}$ ]]; }

[ -n "${REGISTRY:-}" ] || die "set REGISTRY (for example ghcr.io/example-org)"
IMAGE_REPO="${IMAGE_REPO:-$REGISTRY/hello-service}"
CHART_NAMESPACE="${CHART_NAMESPACE:-$REGISTRY/charts}"
OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hello-service-pipeline.XXXXXX")}"
mkdir -p "$OUT_DIR"

# --- what is being released ----------------------------------------------------------------------------
if [ -z "${GIT_REF:-}" ]; then
  if [ -n "${GITHUB_REF:-}" ]; then GIT_REF="$GITHUB_REF"
  elif [ -n "${CI_COMMIT_TAG:-}" ]; then GIT_REF="refs/tags/$CI_COMMIT_TAG"
  elif [ -n "${CI_COMMIT_BRANCH:-}" ]; then GIT_REF="refs/heads/$CI_COMMIT_BRANCH"
  fi
fi
if [ -z "${VERSION:-}" ]; then
  if [[ "${GIT_REF:-}" == refs/tags/* ]]; then VERSION="${GIT_REF#refs/tags/}"
  else VERSION="$("$PYTHON" -c 'import sys,tomllib;print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
                  "$here/pyproject.toml")"
  fi
fi
GIT_REF="${GIT_REF:-refs/tags/$VERSION}"
REVISION="${REVISION:-${GITHUB_SHA:-${CI_COMMIT_SHA:-$(git -C "$here" rev-parse HEAD 2>/dev/null || true)}}}"
if [ -z "${SOURCE_URL:-}" ]; then
  if [ -n "${GITHUB_REPOSITORY:-}" ]; then SOURCE_URL="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY"
  elif [ -n "${CI_PROJECT_URL:-}" ]; then SOURCE_URL="$CI_PROJECT_URL"
  fi
fi
# Reproducible builds: file times and `created` come from the commit, not from the clock.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && commit_time="$(git -C "$here" log -1 --format=%ct 2>/dev/null)"; then
  export SOURCE_DATE_EPOCH="$commit_time"
fi
CHART_VERSION="${CHART_VERSION:-$("$PYTHON" -c 'import sys,yaml;print(yaml.safe_load(open(sys.argv[1]))["version"])' \
                                   "$here/chart/Chart.yaml")}"

# Who consumers expect to have signed: the CI workflow identity, anchored and escaped.
if [ -z "${EXPECTED_IDENTITY_REGEXP:-}" ]; then
  if [ -n "${GITHUB_WORKFLOW_REF:-}" ]; then
    EXPECTED_IDENTITY_REGEXP="^$(re_escape "${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_WORKFLOW_REF%@*}")@refs/"
    EXPECTED_OIDC_ISSUER="${EXPECTED_OIDC_ISSUER:-https://token.actions.githubusercontent.com}"
  elif [ -n "${CI_PROJECT_PATH:-}" ]; then
    EXPECTED_IDENTITY_REGEXP="^$(re_escape "${CI_SERVER_URL:-https://gitlab.com}/$CI_PROJECT_PATH//")"
    EXPECTED_OIDC_ISSUER="${EXPECTED_OIDC_ISSUER:-${CI_SERVER_URL:-https://gitlab.com}}"
  else
    die "set EXPECTED_IDENTITY_REGEXP and EXPECTED_OIDC_ISSUER (not derivable outside GitHub Actions / GitLab CI)"
  fi
fi
[ -n "${EXPECTED_OIDC_ISSUER:-}" ] || die "set EXPECTED_OIDC_ISSUER"

sign_flags=(--yes)
verify_flags=()
[ -n "${TRUSTED_ROOT:-}" ] && { sign_flags+=(--trusted-root "$TRUSTED_ROOT"); verify_flags+=(--trusted-root "$TRUSTED_ROOT"); }
[ -n "${SIGNING_CONFIG:-}" ] && sign_flags+=(--signing-config "$SIGNING_CONFIG")
# The identity token comes from SIGSTORE_ID_TOKEN (GitLab id_tokens) or GitHub's ambient credentials;
# sigward reads both itself, so the token never appears on a command line.
who=(--certificate-identity-regexp "$EXPECTED_IDENTITY_REGEXP" --certificate-oidc-issuer "$EXPECTED_OIDC_ISSUER")

# --- 1. test ---------------------------------------------------------------------------------------------
step "test hello-service"
"$PYTHON" -m pytest -q -p no:cacheprovider "$here/tests" >&2

# --- 2. verified base, image build, push by digest -------------------------------------------------------
BASE_IMAGE="${BASE_IMAGE:-gcr.io/distroless/python3-debian12:nonroot}"
if ! is_digest_ref "$BASE_IMAGE"; then
  resolved="$(sw image digest "$BASE_IMAGE")"
  printf 'pipeline: warning: BASE_IMAGE is not pinned; using %s (pin it: BASE_IMAGE=%s)\n' \
    "$resolved" "$resolved" >&2
  BASE_IMAGE="$resolved"
fi
base_verify=()
if [ -n "${BASE_KEY:-}" ]; then
  base_verify+=(--base-key "$BASE_KEY")
else
  base_verify+=(--certificate-identity "${BASE_IDENTITY:-keyless@distroless.iam.gserviceaccount.com}"
                --certificate-oidc-issuer "${BASE_OIDC_ISSUER:-https://accounts.google.com}")
fi
base_root="${BASE_TRUSTED_ROOT:-${TRUSTED_ROOT:-}}"
[ -n "$base_root" ] && base_verify+=(--trusted-root "$base_root")

step "build the image on the verified base $BASE_IMAGE"
build_meta=(--version "$VERSION")
[ -n "$REVISION" ] && build_meta+=(--revision "$REVISION")
[ -n "${SOURCE_URL:-}" ] && build_meta+=(--source "$SOURCE_URL")
IMAGE="$(sw image build --base "$BASE_IMAGE" "${base_verify[@]}" \
  --layer "$here/src:/app" --exclude __pycache__ --exclude '*.pyc' \
  --entrypoint '["python3", "-m", "hello_service"]' \
  --env PYTHONPATH=/app --env PYTHONDONTWRITEBYTECODE=1 --env "HELLO_SERVICE_VERSION=$VERSION" \
  --workdir /app --user 65532:65532 --expose 8080 "${build_meta[@]}" \
  "$IMAGE_REPO")"
is_digest_ref "$IMAGE" || die "image build did not return a digest reference: $IMAGE"

# --- 3. SBOM, attested ------------------------------------------------------------------------------------
step "generate the SBOM (CycloneDX) and attest it"
cyclonedx-py requirements "$here/requirements.txt" --pyproject "$here/pyproject.toml" \
  --of JSON --output-reproducible -o "$OUT_DIR/sbom.cdx.json"
sw attest "${sign_flags[@]}" --type cyclonedx --predicate "$OUT_DIR/sbom.cdx.json" "$IMAGE" >&2

# --- 4. sign the image --------------------------------------------------------------------------------------
step "sign the image (-a imageRef=$GIT_REF)"
sw sign "${sign_flags[@]}" -a "imageRef=$GIT_REF" "$IMAGE" >&2

# --- 5. chart: image digest in its values, package, push by digest, sign -----------------------------------
step "package and push the chart $CHART_VERSION"
rm -rf "$OUT_DIR/chart" && cp -R "$here/chart" "$OUT_DIR/chart"
"$PYTHON" - "$OUT_DIR/chart/values.yaml" "${IMAGE%@*}" "${IMAGE##*@}" <<'EOF'
# Set image.repository and image.digest in the packaged copy, keeping the file's comments.
import re, sys, yaml
path, repo, digest = sys.argv[1:]
text = open(path).read()
text, n1 = re.subn(r"(?m)^(  repository:).*$", lambda m: f"{m.group(1)} {repo}", text, count=1)
text, n2 = re.subn(r"(?m)^(  digest:).*$", lambda m: f'{m.group(1)} "{digest}"', text, count=1)
image = (yaml.safe_load(text) or {}).get("image") or {}
if (n1, n2) != (1, 1) or image.get("repository") != repo or image.get("digest") != digest:
    sys.exit(f"pipeline: could not set image.repository/image.digest in {path}")
open(path, "w").write(text)
EOF
sw chart package "$OUT_DIR/chart" --version "$CHART_VERSION" --app-version "$VERSION" \
  -d "$OUT_DIR" >&2
# Helm's oci://REGISTRY/NAMESPACE form, or an OCI layout when REGISTRY is oci:PATH (no server at all).
if [[ "$CHART_NAMESPACE" == oci:* ]]; then chart_target="$CHART_NAMESPACE/hello-service"
else chart_target="oci://$CHART_NAMESPACE"; fi
CHART="$(sw chart push "$OUT_DIR/hello-service-$CHART_VERSION.tgz" "$chart_target" \
  | sed -n 's/^Pushed: //p')"
is_digest_ref "$CHART" || die "chart push did not return a digest reference: $CHART"
printf 'Pushed chart %s\n' "$CHART" >&2
step "sign the chart (-a chartVersion=$CHART_VERSION)"
sw sign "${sign_flags[@]}" -a "chartVersion=$CHART_VERSION" "$CHART" >&2

# --- 6. verify as a consumer, and tell consumers how --------------------------------------------------------
step "verify the image, its SBOM attestation and the chart"
sw verify "${verify_flags[@]}" "${who[@]}" -a "imageRef=$GIT_REF" "$IMAGE" >/dev/null
sw verify-attestation "${verify_flags[@]}" "${who[@]}" --type cyclonedx "$IMAGE" >/dev/null
sw verify "${verify_flags[@]}" "${who[@]}" -a "chartVersion=$CHART_VERSION" "$CHART" >/dev/null

# Quote for a copy-pasteable shell line: bare when safe, else in single quotes.
q() { if [[ "$1" =~ ^[A-Za-z0-9_./:=@+-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi; }
root_flag=""
[ -n "${TRUSTED_ROOT:-}" ] && root_flag=" --trusted-root $(q "$TRUSTED_ROOT")"
cat > "$OUT_DIR/artifacts.env" <<EOF
IMAGE=$IMAGE
CHART=$CHART
IMAGE_SEMVER=$VERSION
CHART_SEMVER=$CHART_VERSION
EOF
cat <<EOF

Released hello-service $VERSION (chart $CHART_VERSION):
  image: $IMAGE
  chart: $CHART
  SBOM:  $OUT_DIR/sbom.cdx.json (attested, predicate type cyclonedx)

Consumers verify them with:

sigward verify${root_flag} --certificate-identity-regexp $(q "$EXPECTED_IDENTITY_REGEXP") --certificate-oidc-issuer $(q "$EXPECTED_OIDC_ISSUER") -a $(q "imageRef=$GIT_REF") $IMAGE
sigward verify${root_flag} --certificate-identity-regexp $(q "$EXPECTED_IDENTITY_REGEXP") --certificate-oidc-issuer $(q "$EXPECTED_OIDC_ISSUER") -a $(q "chartVersion=$CHART_VERSION") $CHART
EOF
