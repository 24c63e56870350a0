#!/usr/bin/env bash
# Registry authentication and transport: basic auth (htpasswd), bearer tokens from a token
# server (anonymous, credentialed, OAuth2 refresh token), credentials from a docker
# config.json, one token per scope however many blobs, redirects that must not carry
# Authorization to another host, TLS with a configured CA, plain HTTP refused unless the
# registry is configured insecure.
. "$(dirname "$0")/lib.sh"

cat >"$T/spec.json" <<'EOF'
{"images": [
 {"tag": "img", "layers": [{"busybox": true}, {"entries": [{"path": "a.txt", "content": "a\n"}]},
                           {"entries": [{"path": "b.txt", "content": "b\n"}]}]}
]}
EOF
build "$T/spec.json" "$T/layout" || { echo "FAIL: image build"; exit 1; }
USER=berthuser PASS='s3cret pass'
creds_file() { # FILE HOST [JSON-ENTRY]
  local entry=${3:-"{\"auth\": \"$(printf '%s:%s' "$USER" "$PASS" | base64 -w0)\"}"}
  printf '{"auths": {"%s": %s}}\n' "$2" "$entry" >"$1"
}

# ---------------------------------------------------------------- basic auth
htpasswd -Bbn "$USER" "$PASS" >"$T/htpasswd" 2>/dev/null
reg_start basic "auth:
  htpasswd:
    realm: berth-basic
    path: $T/htpasswd" || exit 1
B=127.0.0.1:$REG_PORT
reg_push "$T/layout" img "$B/private/img:1" --dest-creds "$USER:$PASS" || bad "push to the basic-auth registry"
insecure "$B"
check_fails "basic auth without credentials is refused with the registry's message" "requires credentials and none are configured" pull "$B/private/img:1"
creds_file "$T/good.json" "$B"
creds_file "$T/bad.json" "http://$B/v2/" "{\"auth\": \"$(printf '%s:wrong' "$USER" | base64 -w0)\"}"
check_fails "wrong basic credentials are refused" "refused the credentials" env BERTH_IMAGE_CREDENTIALS_FILE="$T/bad.json" "$BERTH" pull -q "$B/private/img:1"
check "basic auth with credentials from config.json" env BERTH_IMAGE_CREDENTIALS_FILE="$T/good.json" "$BERTH" pull -q "$B/private/img:1"
check_fails "a credentials file with a credential helper is refused by name" "credsStore" \
  sh -c "echo '{\"credsStore\": \"desktop\"}' >'$T/helper.json' && BERTH_IMAGE_CREDENTIALS_FILE='$T/helper.json' '$BERTH' pull -q '$B/private/img:1'"

# ---------------------------------------------------------------- redirects
# A proxy in front of the basic-auth registry sends blob GETs to another host (localhost
# instead of 127.0.0.1, another port) that serves the same blobs and answers 403 to any
# request carrying Authorization.
reg_start open || exit 1
O=127.0.0.1:$REG_PORT
reg_push "$T/layout" img "$O/private/img:1" || bad "push to the open registry"
proxy_start target "$REG_PORT" --serve-redirects --log "$T/target.log" || exit 1
TARGET_PORT=$PROXY_PORT
proxy_start front "${B#*:}" --redirect "http://localhost:$TARGET_PORT" --log "$T/front.log" || exit 1
F=127.0.0.1:$PROXY_PORT
creds_file "$T/front.json" "$F"
export BERTH_IMAGE_ROOT=$T/store-redirect
insecure "$F"
check "pull through redirects to another host" env BERTH_IMAGE_CREDENTIALS_FILE="$T/front.json" "$BERTH" pull -q "$F/private/img:1"
check "the registry sent the blobs elsewhere" grep -q "status=307" "$T/front.log"
check "the other host served them" grep -q "blobs/sha256:.*status=200" "$T/target.log"
check_eq "and never saw the Authorization header" "$(grep -c 'auth=yes' "$T/target.log")" "0"
check "the registry itself did get credentials" grep -q "manifests.*auth=yes" "$T/front.log"
export BERTH_IMAGE_ROOT=$T/store

# ---------------------------------------------------------------- token auth
token_start tok "$T/keys" "$USER" "$PASS" "$T/token.log" || exit 1
reg_start token "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: berth-test-registry
    issuer: berth-test-issuer
    rootcertbundle: $T/keys/cert.pem" || exit 1
K2=127.0.0.1:$REG_PORT
reg_push "$T/layout" img "$K2/private/img:1" --dest-creds "$USER:$PASS" || bad "push to the token registry"
insecure "$K2"
export BERTH_IMAGE_ROOT=$T/store-token
check_fails "an anonymous token is not enough for a private repository" "401" pull "$K2/private/img:1"
: >"$T/token.log"
creds_file "$T/tok.json" "$K2"
check "token auth with credentials" env BERTH_IMAGE_CREDENTIALS_FILE="$T/tok.json" "$BERTH" pull -q "$K2/private/img:1"
check_eq "one token for the whole pull (3 layers, config, manifest)" "$(grep -c ' 200$' "$T/token.log")" "1"
check "the token asked for pull on the repository" grep -q "repository:private/img:pull" "$T/token.log"
export BERTH_IMAGE_ROOT=$T/store-token2
creds_file "$T/refresh.json" "$K2" '{"identitytoken": "refresh-berthuser"}'
check "token auth with an OAuth2 refresh token (identitytoken)" env BERTH_IMAGE_CREDENTIALS_FILE="$T/refresh.json" "$BERTH" pull -q "$K2/private/img:1"
check "it was a POST" grep -q "^POST berthuser" "$T/token.log"
creds_file "$T/badtok.json" "$K2" "{\"auth\": \"$(printf '%s:nope' "$USER" | base64 -w0)\"}"
check_fails "the token server's refusal is reported" "refused the credentials" env BERTH_IMAGE_CREDENTIALS_FILE="$T/badtok.json" "$BERTH" pull -q "$K2/private/img:1"
export BERTH_IMAGE_ROOT=$T/store

# ---------------------------------------------------------------- TLS and plain HTTP
mkdir -p "$T/tls"
(
  cd "$T/tls" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout srv.key -out srv.csr 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext &&
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out srv.pem 2>/dev/null
) || { echo "FAIL: test certificates"; exit 1; }
REG_HTTP_EXTRA="  tls:
    certificate: $T/tls/srv.pem
    key: $T/tls/srv.key" reg_start tls || exit 1
S=127.0.0.1:$REG_PORT
skopeo --insecure-policy copy -q --dest-tls-verify=false --preserve-digests "oci:$T/layout:img" \
  "docker://$S/tls/img:1" || bad "push to the TLS registry"
insecure ""
check_fails "TLS without the registry's CA fails verification" "certificate" pull "$S/tls/img:1"
check "TLS with the configured CA" env BERTH_IMAGE_CA_FILE="$T/tls/ca.pem" "$BERTH" pull -q "$S/tls/img:1"
check_fails "a plain-HTTP registry not listed as insecure is not spoken to in clear" "$O" pull "$O/private/img:1"
finish
