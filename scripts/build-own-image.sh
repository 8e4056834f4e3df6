#!/usr/bin/env bash
# Build sigward's own container image with sigward, sign it, attest its SBOM, and (optionally) package,
# push and sign the admission chart that deploys it by digest. sigward eats its own cooking:
#
#   1. build sigward's wheel from this checkout; install it and its dependencies, pinned to the versions
#      installed here (what the test suite ran against), as wheels for the base's platform and Python,
#      into /app/site-packages
#   2. `sigward image build` on a base named by digest, verified first (key or keyless), entrypoint
#      `python3 -m sigward admission serve`, user 65532, pushed by digest
#   3. a CycloneDX SBOM of exactly what was installed, attested with `sigward attest --type cyclonedx`
#   4. `sigward sign` the image with the release key
#   5. with CHART_REPO: the chart deploy/helm/sigward-admission with the image's digest in its values,
#      `sigward chart package` + `chart push` + `sigward sign -a chartVersion=<v>`
#   6. verify all of it as a consumer would, and print the consumer's commands
#
# The base is the runtime: distroless python3-debian12 (Python 3.11, glibc 2.36, user nonroot 65532) in
# production, pinned by digest and verified keylessly as distroless publishes it. The default wheel tags
# (PYTHON_VERSION=3.11, manylinux up to glibc 2.36) match it. Offline, any base that verifies will do
# (tests/deploy runs this on `sigward demo-image`, which has no Python: the test runs the image's /app
# under this machine's Python 3.11 instead).
#
# Inputs (environment):
#   IMAGE_REPO        where to push: registry/repo, or oci:DIR for an OCI layout (required)
#   BASE_IMAGE        the base, by digest: gcr.io/distroless/python3-debian12@sha256:... (required; pin
#                     a tag with `sigward image digest gcr.io/distroless/python3-debian12:nonroot`)
#   BASE_KEY          verify the base with this public key, or else with
#   BASE_IDENTITY / BASE_OIDC_ISSUER  (default: distroless's keyless@distroless.iam.gserviceaccount.com /
#                     https://accounts.google.com)
#   BASE_IGNORE_TLOG=true  the base's signature has no transparency-log entry (a key-signed base built
#                     offline); its signature is still verified
#   BASE_TRUSTED_ROOT trusted_root.json for the base's signatures (default: TRUSTED_ROOT, else public good)
#   SIGNING_KEY       the release key (a cosign key file, or a KMS URI: awskms://, gcpkms://, hashivault://,
#                     pkcs11:, k8s://); COSIGN_PASSWORD its password. Default: a new key pair generated for
#                     this run in OUT_DIR (sigward-image.key / sigward-image.pub); the .pub is what verifies.
#   TRUSTED_ROOT, SIGNING_CONFIG  a private Sigstore deployment whose Rekor records the signatures
#                     (default: the public-good Rekor)
#   TLOG_UPLOAD=false no transparency log (air-gapped): verifiers then need --insecure-ignore-tlog=true
#   PLATFORM          the image's platform (default linux/amd64; linux/arm64 also works)
#   PYTHON_VERSION    the base's Python minor version (default 3.11)
#   EXTRAS            the sigward extra installed with it (default admission: the webhook server's deps)
#   GLIBC             the base's glibc, for manylinux wheel tags (default 2.36)
#   CHART_REPO        also release the chart: oci://REGISTRY/NAMESPACE (Helm style) or oci:DIR/NAME
#   CHART_VERSION     the chart's SemVer (default: Chart.yaml's)
#   OUT_DIR           build outputs (default: mktemp -d); nothing is written into the checkout
#   SIGWARD           the sigward command (default: sigward); PYTHON (default: python3)
#   SOURCE_DATE_EPOCH file times and `created` (default: the last commit's time)
#
# Prints IMAGE=<repo>@sha256:... (and CHART=... with CHART_REPO) on stdout, and writes them with the public
# key's path to $OUT_DIR/own-image.env and the image to $OUT_DIR/values-image.yaml (helm -f).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIGWARD="${SIGWARD:-sigward}"
PYTHON="${PYTHON:-python3}"
sw() { $SIGWARD "$@"; }  # unquoted on purpose: SIGWARD may be "python3 -m sigward"
helper() { "$PYTHON" "$root/deploy/own_image.py" "$@"; }
step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'Error: %s\n' "$*" >&2; exit 1; }
is_digest_ref() { [[ "$1" =~ @sha256:[0-9a-f]{64}$ ]]; }

# --- inputs, all checked before anything is built ----------------------------------------------------------
[ -n "${IMAGE_REPO:-}" ] || die "set IMAGE_REPO: the repository to push to (registry/repo or oci:DIR)"
[[ "$IMAGE_REPO" =~ [@] ]] && die "IMAGE_REPO must be a repository without a digest, not $IMAGE_REPO"
[ -n "${BASE_IMAGE:-}" ] || die "set BASE_IMAGE to the base by digest, e.g. gcr.io/distroless/python3-debian12@sha256:... (sigward image digest gcr.io/distroless/python3-debian12:nonroot)"
is_digest_ref "$BASE_IMAGE" || die "BASE_IMAGE must be named by digest (a tag can move): $BASE_IMAGE; pin it with: sigward image digest $BASE_IMAGE"
PLATFORM="${PLATFORM:-linux/amd64}"
case "$PLATFORM" in
  linux/amd64) wheel_arch=x86_64 ;;
  linux/arm64|linux/arm64/v8) wheel_arch=aarch64 ;;
  *) die "PLATFORM must be linux/amd64 or linux/arm64, not $PLATFORM" ;;
esac
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
# The server's own dependencies (HTTP server, metrics, Redis client) are sigward's `admission` extra.
EXTRAS="${EXTRAS:-admission}"
[[ "$EXTRAS" =~ ^[a-z0-9-]+$ ]] || die "EXTRAS must be one extra's name (e.g. admission), not $EXTRAS"
GLIBC="${GLIBC:-2.36}"
[[ "$PYTHON_VERSION" =~ ^3\.[0-9]+$ ]] || die "PYTHON_VERSION must be a Python minor version like 3.11, not $PYTHON_VERSION"
[[ "$GLIBC" =~ ^2\.[0-9]+$ ]] || die "GLIBC must be a glibc version like 2.36, not $GLIBC"
here_py="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$here_py" = "$PYTHON_VERSION" ] || die "this build runs on Python $here_py but the image's Python is $PYTHON_VERSION: the pinned dependency set is read from this interpreter, so run it with Python $PYTHON_VERSION (PYTHON=python$PYTHON_VERSION)"
case "${TLOG_UPLOAD:-true}" in true|false) ;; *) die "TLOG_UPLOAD must be true or false, not $TLOG_UPLOAD" ;; esac
case "${BASE_IGNORE_TLOG:-false}" in true|false) ;; *) die "BASE_IGNORE_TLOG must be true or false, not $BASE_IGNORE_TLOG" ;; esac
if [ -n "${SIGNING_CONFIG:-}" ] && [ -z "${TRUSTED_ROOT:-}" ]; then
  die "SIGNING_CONFIG needs TRUSTED_ROOT (the same deployment's trusted_root.json) for verification"
fi
for f in BASE_KEY BASE_TRUSTED_ROOT TRUSTED_ROOT SIGNING_CONFIG; do
  v="${!f:-}"
  if [ -n "$v" ] && [[ "$v" != *://* ]] && [ ! -f "$v" ]; then die "$f: no such file: $v"; fi
done
if [ -n "${SIGNING_KEY:-}" ] && [[ "$SIGNING_KEY" != *:* ]] && [ ! -f "$SIGNING_KEY" ]; then
  die "SIGNING_KEY: no such file: $SIGNING_KEY"
fi
command -v cyclonedx-py >/dev/null || die "cyclonedx-py not found (pip install 'sigward[pipeline]' or cyclonedx-bom)"
if [ -n "${CHART_REPO:-}" ] && [[ "$CHART_REPO" != oci://* && "$CHART_REPO" != oci:* ]]; then
  die "CHART_REPO must be oci://REGISTRY/NAMESPACE or oci:DIR/NAME, not $CHART_REPO"
fi

OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sigward-own-image.XXXXXX")}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
VERSION="$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import sigward; print(sigward.__version__)' "$root")"
REVISION="${REVISION:-$(git -C "$root" rev-parse HEAD 2>/dev/null || true)}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && commit_time="$(git -C "$root" log -1 --format=%ct 2>/dev/null)"; then
  export SOURCE_DATE_EPOCH="$commit_time"
fi

# --- the release key -------------------------------------------------------------------------------------------
if [ -n "${SIGNING_KEY:-}" ]; then
  KEY="$SIGNING_KEY"
  PUBLIC_KEY="$OUT_DIR/sigward-image.pub"
  sw public-key --key "$KEY" --outfile "$PUBLIC_KEY" >&2
else
  if [ -e "$OUT_DIR/sigward-image.key" ]; then
    die "$OUT_DIR already holds sigward-image.key: use a new OUT_DIR, or sign with it: SIGNING_KEY=$OUT_DIR/sigward-image.key"
  fi
  step "generate this run's signing key pair (labelled: a per-run key, not a release key)"
  # A random password, kept only in this process: the key is encrypted at rest like any cosign key.
  COSIGN_PASSWORD="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))')"
  export COSIGN_PASSWORD
  (cd "$OUT_DIR" && sw generate-key-pair --output-key-prefix sigward-image >&2)
  KEY="$OUT_DIR/sigward-image.key"
  PUBLIC_KEY="$OUT_DIR/sigward-image.pub"
fi

sign_flags=(--yes)
verify_flags=()
if [ "${TLOG_UPLOAD:-true}" = false ]; then
  sign_flags+=(--tlog-upload=false)
  verify_flags+=(--insecure-ignore-tlog=true)
fi
[ -n "${TRUSTED_ROOT:-}" ] && { sign_flags+=(--trusted-root "$TRUSTED_ROOT"); verify_flags+=(--trusted-root "$TRUSTED_ROOT"); }
[ -n "${SIGNING_CONFIG:-}" ] && sign_flags+=(--signing-config "$SIGNING_CONFIG")

# --- 1. sigward and its dependencies, as the image's site-packages ---------------------------------------------
step "build sigward $VERSION's wheel and install it for $PLATFORM, Python $PYTHON_VERSION"
rm -rf "$OUT_DIR/wheel" "$OUT_DIR/rootfs"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$OUT_DIR/wheel" "$root" >&2
wheel=("$OUT_DIR"/wheel/sigward-*.whl)
[ -f "${wheel[0]}" ] || die "pip wheel did not produce a sigward wheel in $OUT_DIR/wheel"
helper constraints --extra "$EXTRAS" > "$OUT_DIR/constraints.txt"
# pip takes explicit --platform tags literally: name every manylinux level up to the base's glibc.
platform_flags=(--platform "manylinux2014_${wheel_arch}")
for ((minor = 17; minor <= ${GLIBC#2.}; minor++)); do
  platform_flags+=(--platform "manylinux_2_${minor}_${wheel_arch}")
done
site="$OUT_DIR/rootfs/app/site-packages"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
  --target "$site" --only-binary=:all: --implementation cp --python-version "$PYTHON_VERSION" \
  "${platform_flags[@]}" --constraint "$OUT_DIR/constraints.txt" \
  "${wheel[0]}[$EXTRAS]" >&2 || die "pip could not install sigward's dependencies as wheels for $PLATFORM, Python $PYTHON_VERSION, glibc $GLIBC (above)"
# Console scripts carry this machine's interpreter path: the image runs `python3 -m sigward` instead.
# pip records where the wheel came from (a path under OUT_DIR): drop it, so the layer is reproducible.
rm -rf "$site/bin"
for dist_info in "$site"/sigward-*.dist-info; do
  rm -f "$dist_info/direct_url.json"
  sed -i '/\/direct_url\.json,/d' "$dist_info/RECORD"
done

# --- 2. the image, on the verified base -------------------------------------------------------------------------
base_verify=()
if [ -n "${BASE_KEY:-}" ]; then
  base_verify+=(--base-key "$BASE_KEY")
else
  base_verify+=(--certificate-identity "${BASE_IDENTITY:-keyless@distroless.iam.gserviceaccount.com}"
                --certificate-oidc-issuer "${BASE_OIDC_ISSUER:-https://accounts.google.com}")
fi
[ "${BASE_IGNORE_TLOG:-false}" = true ] && base_verify+=(--insecure-ignore-tlog=true)
base_root="${BASE_TRUSTED_ROOT:-${TRUSTED_ROOT:-}}"
[ -n "$base_root" ] && base_verify+=(--trusted-root "$base_root")
build_meta=(--version "$VERSION")
[ -n "$REVISION" ] && build_meta+=(--revision "$REVISION")
[ -n "${SOURCE_URL:-}" ] && build_meta+=(--source "$SOURCE_URL")

step "build the image on the verified base $BASE_IMAGE"
IMAGE="$(sw image build --base "$BASE_IMAGE" "${base_verify[@]}" --platform "$PLATFORM" \
  --layer "$OUT_DIR/rootfs:/" --exclude __pycache__ --exclude '*.pyc' \
  --entrypoint '["python3", "-m", "sigward", "admission", "serve"]' \
  --env PYTHONPATH=/app/site-packages --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
  --env HOME=/tmp --workdir /app --user 65532:65532 --expose 8443 \
  --label org.opencontainers.image.title=sigward \
  --label "org.opencontainers.image.description=sigward admission webhook (sigward admission serve)" \
  "${build_meta[@]}" "$IMAGE_REPO")"
is_digest_ref "$IMAGE" || die "image build did not return a digest reference: $IMAGE"

# --- 3. SBOM of what was installed, attested ---------------------------------------------------------------------
step "generate the SBOM (CycloneDX) of the image's Python packages and attest it"
helper requirements "$site" > "$OUT_DIR/image-requirements.txt"
cyclonedx-py requirements "$OUT_DIR/image-requirements.txt" --of JSON --output-reproducible \
  -o "$OUT_DIR/sbom.cdx.json" >&2
sw attest "${sign_flags[@]}" --key "$KEY" --type cyclonedx --predicate "$OUT_DIR/sbom.cdx.json" "$IMAGE" >&2

# --- 4. sign ---------------------------------------------------------------------------------------------------
step "sign the image"
sw sign "${sign_flags[@]}" --key "$KEY" "$IMAGE" >&2

# --- 5. the chart, deploying this image by digest ------------------------------------------------------------------
cat > "$OUT_DIR/values-image.yaml" <<EOF
image:
  repository: ${IMAGE%@*}
  digest: "${IMAGE##*@}"
EOF
CHART=""
if [ -n "${CHART_REPO:-}" ]; then
  chart_src="$root/deploy/helm/sigward-admission"
  CHART_VERSION="${CHART_VERSION:-$("$PYTHON" -c 'import sys,yaml;print(yaml.safe_load(open(sys.argv[1]))["version"])' "$chart_src/Chart.yaml")}"
  step "package, push and sign the chart $CHART_VERSION with the image's digest in its values"
  rm -rf "$OUT_DIR/chart" && mkdir -p "$OUT_DIR/chart" && cp -R "$chart_src" "$OUT_DIR/chart/"
  helper set-values "$OUT_DIR/chart/sigward-admission/values.yaml" "${IMAGE%@*}" "${IMAGE##*@}"
  sw chart package "$OUT_DIR/chart/sigward-admission" --version "$CHART_VERSION" --app-version "$VERSION" \
    -d "$OUT_DIR" >&2
  CHART="$(sw chart push "$OUT_DIR/sigward-admission-$CHART_VERSION.tgz" "$CHART_REPO" | sed -n 's/^Pushed: //p')"
  is_digest_ref "$CHART" || die "chart push did not return a digest reference: $CHART"
  sw sign "${sign_flags[@]}" --key "$KEY" -a "chartVersion=$CHART_VERSION" "$CHART" >&2
fi

# --- 6. verify as a consumer ---------------------------------------------------------------------------------------
step "verify the image, its SBOM attestation${CHART:+ and the chart} with $PUBLIC_KEY"
sw verify "${verify_flags[@]}" --key "$PUBLIC_KEY" "$IMAGE" >/dev/null
sw verify-attestation "${verify_flags[@]}" --key "$PUBLIC_KEY" --type cyclonedx "$IMAGE" >/dev/null
if [ -n "$CHART" ]; then
  sw verify "${verify_flags[@]}" --key "$PUBLIC_KEY" -a "chartVersion=$CHART_VERSION" "$CHART" >/dev/null
fi

{
  printf 'IMAGE=%s\n' "$IMAGE"
  printf 'PUBLIC_KEY=%s\n' "$PUBLIC_KEY"
  printf 'SBOM=%s\n' "$OUT_DIR/sbom.cdx.json"
  if [ -n "$CHART" ]; then printf 'CHART=%s\nCHART_SEMVER=%s\n' "$CHART" "$CHART_VERSION"; fi
} > "$OUT_DIR/own-image.env"
flags="${verify_flags[*]:+${verify_flags[*]} }"
cat >&2 <<EOF

Built sigward $VERSION's image (outputs in $OUT_DIR):
  image: $IMAGE
  SBOM:  $OUT_DIR/sbom.cdx.json (attested, predicate type cyclonedx)
  public key: $PUBLIC_KEY
Verify before deploying:
  sigward verify ${flags}--key $PUBLIC_KEY $IMAGE
  sigward verify-attestation ${flags}--key $PUBLIC_KEY --type cyclonedx $IMAGE
Deploy:
  helm install sigward-admission deploy/helm/sigward-admission -n sigward-system -f $OUT_DIR/values-image.yaml ...
EOF
printf 'IMAGE=%s\n' "$IMAGE"
if [ -n "$CHART" ]; then printf 'CHART=%s\n' "$CHART"; fi
