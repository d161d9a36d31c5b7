#!/usr/bin/env bash
# The container's entry point: check the environment, optionally migrate, then become chatops.
#
#   docker-entrypoint.sh [serve [ARGS]]      check, run `chatops db upgrade` first if
#                                            CHATOPS_MIGRATE=1, then exec `chatops serve`
#   docker-entrypoint.sh db upgrade          check, then exec `chatops db upgrade`
#   docker-entrypoint.sh healthcheck         exit 0 when GET /healthz on this container answers 200
#   docker-entrypoint.sh COMMAND [ARGS]      any other chatops command (check-config, status, ...)
#   docker-entrypoint.sh -- PROGRAM [ARGS]   run something else (a shell, for debugging)
#
# Environment (see deploy/README.md): every secret may be given as NAME or as NAME_FILE, the
# path of a file holding it (Docker and Kubernetes secrets). chatops reads NAME_FILE itself,
# so the value is never copied into the environment here; this script only checks that
# each named file can be read, so that a typo in a mount fails at start with its path.
#   CHATOPS_DATABASE_URL   required (a container has no sensible default place for SQLite)
#   CHATOPS_MIGRATE=1      run `chatops db upgrade` before serving (single-container setups;
#                          compose and the Helm chart run the migration as a separate step)
#   CHATOPS_PORT           port to serve and health-check on (default 3000)
set -euo pipefail

readonly PROGRAM=docker-entrypoint
# Every variable chatops reads with NAME_FILE support (chatops/config.py, _ENV_NAMES).
readonly FILE_VARIABLES=(
    SLACK_BOT_TOKEN SLACK_SIGNING_SECRET SLACK_APP_TOKEN SLACK_API_URL
    CHATOPS_DATABASE_URL
    LP_ACCOUNT_ID LP_USERNAME LP_PASSWORD LP_APP_KEY LP_SECRET
    LP_ACCESS_TOKEN LP_ACCESS_TOKEN_SECRET LP_API_URL LP_CSDS_URL
)
PORT=${CHATOPS_PORT:-3000}

fail() {
    echo "$PROGRAM: $*" >&2
    exit 64  # EX_USAGE: the container is misconfigured, restarting it will not help
}

# True when NAME or NAME_FILE is set and not empty.
is_given() {
    local name=$1 file_name="${1}_FILE"
    [ -n "${!name:-}" ] || [ -n "${!file_name:-}" ]
}

check_secret_files() {
    local name file_name path problems=()
    for name in "${FILE_VARIABLES[@]}"; do
        file_name="${name}_FILE"
        path=${!file_name:-}
        [ -n "$path" ] || continue
        if [ -n "${!name:-}" ]; then
            problems+=("set $name or $file_name, not both")
        elif [ ! -f "$path" ]; then
            problems+=("$file_name=$path: no such file")
        elif [ ! -r "$path" ]; then
            problems+=("$file_name=$path: not readable by uid $(id -u)")
        elif [ ! -s "$path" ]; then
            problems+=("$file_name=$path: the file is empty")
        fi
    done
    report "${problems[@]}"
}

# Names every required variable that is missing, at once, instead of one per restart.
require() {
    local name missing=()
    for name in "$@"; do
        is_given "$name" || missing+=("$name (or ${name}_FILE)")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        report "${missing[@]/#/missing }"
    fi
}

report() {
    [ $# -gt 0 ] || return 0
    local problem
    for problem in "$@"; do
        echo "$PROGRAM: $problem" >&2
    done
    fail "refusing to start; see deploy/README.md (Configuration)"
}

check_serve_environment() {
    local required=(CHATOPS_DATABASE_URL SLACK_BOT_TOKEN LP_ACCOUNT_ID)
    # Socket Mode authenticates the WebSocket with the app token instead of signatures.
    is_given SLACK_APP_TOKEN || required+=(SLACK_SIGNING_SECRET)
    require "${required[@]}"
}

healthcheck() {
    # No curl in the slim image; python is there. /healthz only says the process answers:
    # readiness (database, polls) is the orchestrator's business through /readyz.
    exec python3 - "http://127.0.0.1:${PORT}/healthz" <<'PYTHON'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print(f"healthcheck: {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PYTHON
}

check_own_settings() {
    case "${CHATOPS_MIGRATE:-0}" in
        0 | 1) ;;
        *) fail "CHATOPS_MIGRATE must be 0 or 1, not '${CHATOPS_MIGRATE}'" ;;
    esac
    case "$PORT" in
        '' | *[!0-9]*) fail "CHATOPS_PORT must be a port number, not '${PORT}'" ;;
    esac
}

main() {
    check_own_settings
    if [ $# -eq 0 ] || { [ "${1#-}" != "$1" ] && [ "$1" != -- ]; }; then
        set -- serve "$@"  # no command, or only options: serve with them
    fi
    case "$1" in
        --)
            shift
            [ $# -gt 0 ] || fail "nothing to run after --"
            exec "$@"
            ;;
        healthcheck)
            healthcheck
            ;;
        serve)
            shift
            check_secret_files
            check_serve_environment
            if [ "${CHATOPS_MIGRATE:-0}" = 1 ]; then
                echo "$PROGRAM: CHATOPS_MIGRATE=1: running chatops db upgrade" >&2
                if ! chatops db upgrade; then
                    # Not a usage error: the database may come back, so a restart may help.
                    echo "$PROGRAM: chatops db upgrade failed (above); not serving" >&2
                    exit 1
                fi
            fi
            # exec: chatops becomes this process, so `docker stop` and Kubernetes send their
            # SIGTERM to it directly and it shuts down gracefully.
            exec chatops serve --port "$PORT" "$@"
            ;;
        db | poll | status)
            check_secret_files
            require CHATOPS_DATABASE_URL
            exec chatops "$@"
            ;;
        *)
            check_secret_files
            exec chatops "$@"
            ;;
    esac
}

main "$@"
