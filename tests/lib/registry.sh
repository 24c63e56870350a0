# shellcheck shell=bash
# Registry helpers for the image cache tests: source it. Runs Debian's docker-registry (and
# the tests' token server and fault proxy) on 127.0.0.1 ports picked from the imagecache
# range 17000-17999, each process remembered by PID so reg_cleanup stops exactly those.
#
#   reg_init WORKDIR              where configs, storage, logs go (the test's temp dir)
#   reg_start NAME [AUTH_YAML]    -> sets REG_PORT; registry "NAME" on 127.0.0.1:REG_PORT
#                                 ($REG_HTTP_EXTRA: more lines for its http: section, e.g. tls)
#   reg_push LAYOUT TAG HOST/REPO:TAG [skopeo args...]
#   token_start NAME KEYDIR USER PASS [LOG] -> sets TOKEN_PORT
#   proxy_start NAME UPSTREAM_PORT FAULT_SPEC -> sets PROXY_PORT (tests/lib/faultproxy.py)
#   reg_cleanup                   stop everything started here (call from a trap)

REG_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REG_PIDS=()

reg_init() {
  REG_WORK=$1
  mkdir -p "$REG_WORK"
}

# A free TCP port in 17000-17999, starting at a random place so parallel tests rarely race;
# the caller still retries when its server fails to bind.
reg_free_port() {
  local used p i start=$((17000 + (RANDOM % 1000)))
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for ((i = 0; i < 1000; i++)); do
    p=$((17000 + (start - 17000 + i) % 1000))
    grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}

reg_wait_port() { # PORT PID
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

reg_bg() { # LOG CMD... : starts CMD, records its PID in REG_LAST_PID
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  REG_LAST_PID=$!
  REG_PIDS+=("$REG_LAST_PID")
}

reg_start() { # NAME [AUTH_YAML]
  local name=$1 auth=${2:-} d attempt port
  d="$REG_WORK/reg-$name"
  for attempt in 1 2 3 4 5; do
    port=$(reg_free_port) || return 1
    rm -rf "$d"
    mkdir -p "$d/storage"
    cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: berth-imagecache-test
${REG_HTTP_EXTRA:-}
$auth
EOF
    reg_bg "$d/log" docker-registry serve "$d/config.yml"
    if reg_wait_port "$port" "$REG_LAST_PID"; then
      REG_PORT=$port
      return 0
    fi
    kill "$REG_LAST_PID" 2>/dev/null
    wait "$REG_LAST_PID" 2>/dev/null
  done
  echo "registry $name did not start: $(tail -5 "$d/log")" >&2
  return 1
}

# Pushes TAG of an OCI layout with skopeo, byte for byte (--preserve-digests: without it
# skopeo gzips an uncompressed layer on its way to a registry). With --format v2s2 the
# manifest is converted to Docker v2 schema 2 instead (new digests, same layers).
reg_push() { # LAYOUT TAG DEST [skopeo copy args...]
  local layout=$1 tag=$2 dest=$3 keep=--preserve-digests a
  shift 3
  for a in "$@"; do [ "$a" = --format ] && keep=; done
  skopeo --insecure-policy copy -q --dest-tls-verify=false $keep "$@" "oci:$layout:$tag" "docker://$dest"
}

token_start() { # NAME KEYDIR USER PASS [LOG]
  local name=$1 keys=$2 user=$3 pass=$4 attempt port log=()
  [ -n "${5:-}" ] && log=(--log "$5")
  if [ ! -f "$keys/key.pem" ]; then
    mkdir -p "$keys"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth-test-token-issuer" \
      -keyout "$keys/key.pem" -out "$keys/cert.pem" 2>/dev/null || return 1
  fi
  for attempt in 1 2 3 4 5; do
    port=$(reg_free_port) || return 1
    reg_bg "$REG_WORK/token-$name.log" python3 "$REG_LIB_DIR/token-server.py" --port "$port" --key "$keys/key.pem" \
      --cert "$keys/cert.pem" --issuer berth-test-issuer --service berth-test-registry --user "$user" --password "$pass" "${log[@]}"
    if reg_wait_port "$port" "$REG_LAST_PID"; then
      TOKEN_PORT=$port
      return 0
    fi
    kill "$REG_LAST_PID" 2>/dev/null
    wait "$REG_LAST_PID" 2>/dev/null
  done
  echo "token server did not start: $(tail -5 "$REG_WORK/token-$name.log")" >&2
  return 1
}

proxy_start() { # NAME UPSTREAM_PORT [faultproxy args...]
  local name=$1 up=$2 attempt port
  shift 2
  for attempt in 1 2 3 4 5; do
    port=$(reg_free_port) || return 1
    reg_bg "$REG_WORK/proxy-$name.log" python3 "$REG_LIB_DIR/faultproxy.py" --port "$port" --upstream "127.0.0.1:$up" \
      --state "$REG_WORK/proxy-$name.state" "$@"
    if reg_wait_port "$port" "$REG_LAST_PID"; then
      PROXY_PORT=$port
      return 0
    fi
    kill "$REG_LAST_PID" 2>/dev/null
    wait "$REG_LAST_PID" 2>/dev/null
  done
  echo "proxy did not start: $(tail -5 "$REG_WORK/proxy-$name.log")" >&2
  return 1
}

reg_stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

reg_cleanup() {
  local pid
  for pid in "${REG_PIDS[@]}"; do
    reg_stop_pid "$pid"
  done
  REG_PIDS=()
}
