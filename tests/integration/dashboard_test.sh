#!/usr/bin/env bash
# The read-only web dashboard on the operator listener (docs/operations.md#dashboard), in a real
# browser: headless Chromium (Debian's package) with the operator's certificate in its NSS
# database loads the page from a real controller, watches a deploy until the page shows it
# converged, and saves a screenshot (build dir: test-artifacts/dashboard.png). A browser
# without a certificate, a device's certificate and an operator without a role are refused;
# HTML that operators or devices put into names and reasons is shown as text, never run;
# gRPC on the same port keeps working.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || lf_die "curl is missing (deploy/install-deps.sh installs it)"
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
  lf_die "chromium is missing (deploy/install-deps.sh installs it)"
command -v pk12util >/dev/null || lf_die "pk12util is missing (libnss3-tools; deploy/install-deps.sh installs it)"

one_agent_fleet
P="$LF_DIR/pki"
URL="https://127.0.0.1:$LF_OPERATOR_PORT"

# get PATH [curl args...]: the operator's HTTP/1.1 request; prints the status line's code, then the body.
get() {
  local path=$1; shift
  curl -s --http1.1 --max-time 10 --cacert "$P/fleet-ca.pem" -w '\n%{http_code}' "$@" "$URL$path"
}
as_admin=(--cert "$P/operators/admin.pem" --key "$P/operators/admin.key")

step "the page, its script and the overview over HTTP/1.1 with the operator certificate"
headers=$(curl -s --http1.1 --max-time 10 --cacert "$P/fleet-ca.pem" "${as_admin[@]}" -D - -o /dev/null "$URL/")
expect_contains "HTTP/1.1 200" "$headers"
expect_contains "Content-Security-Policy: default-src 'none'; script-src 'self'" "$headers"
expect_contains "X-Frame-Options: DENY" "$headers"
expect_contains "Cache-Control: no-store" "$headers"
out=$(get /app.js "${as_admin[@]}")
[ "$(tail -n 1 <<<"$out")" = 200 ] || lf_die "app.js: $(tail -n 1 <<<"$out")"
expect_contains "/api/overview" "$out"
out=$(get /api/overview "${as_admin[@]}")
[ "$(tail -n 1 <<<"$out")" = 200 ] || lf_die "overview: $out"
python3 - "$(sed '$d' <<<"$out")" <<'PY' || lf_die "the overview is not what the fleet is: $out"
import json, sys
o = json.loads(sys.argv[1])
assert o["fleet"] == "demo" and o["operator"] == "admin" and o["role"] == "admin", o
assert [s["name"] for s in o["sites"]] == ["plant-7"], o["sites"]
assert [d["device"]["id"] for d in o["devices"]] == ["gw-1"] and o["devices"][0]["device"]["online"], o["devices"]
assert o["devices_total"] == 1
PY
ok "page, script and overview served; security headers present"

step "what is not a read of the dashboard is refused"
out=$(get /nope "${as_admin[@]}")
[ "$(tail -n 1 <<<"$out")" = 404 ] || lf_die "unknown path: $out"
out=$(get /api/overview "${as_admin[@]}" -X POST)
[ "$(tail -n 1 <<<"$out")" = 405 ] || lf_die "POST: $out"
out=$(get /api/overview "${as_admin[@]}" -X DELETE)
[ "$(tail -n 1 <<<"$out")" = 405 ] || lf_die "DELETE: $out"
out=$(get "/$(head -c 3000 /dev/zero | tr '\0' a)" "${as_admin[@]}")
[ "$(tail -n 1 <<<"$out")" = 414 ] || lf_die "a 3000-byte target: $out"
ok "unknown path 404, POST and DELETE 405, an overlong target 414"

step "no certificate, a device's certificate, another CA's: refused in the TLS handshake"
out=$(get /api/overview); rc=$?
[ $rc -ne 0 ] && [ "$(tail -n 1 <<<"$out")" = 000 ] || lf_die "served without a certificate (rc=$rc): $out"
out=$(get /api/overview --cert "$LF_DIR/gw-1/identity/cert.pem" --key "$LF_DIR/gw-1/identity/key.pem"); rc=$?
[ $rc -ne 0 ] && [ "$(tail -n 1 <<<"$out")" = 000 ] || lf_die "served to a device certificate (rc=$rc): $out"
lf_edgectl pki init --dir "$LF_DIR/other" --fleet demo --controller-host 127.0.0.1 >/dev/null 2>&1 || lf_die "second pki"
out=$(get /api/overview --cert "$LF_DIR/other/operators/admin.pem" --key "$LF_DIR/other/operators/admin.key"); rc=$?
[ $rc -ne 0 ] && [ "$(tail -n 1 <<<"$out")" = 000 ] || lf_die "served to another fleet's operator (rc=$rc): $out"
ok "each refused before any HTTP"

step "TLS 1.3 only, no resumption; a cross-site request from a page elsewhere is refused"
out=$(openssl s_client -connect "127.0.0.1:$LF_OPERATOR_PORT" -tls1_2 -alpn http/1.1 -CAfile "$P/fleet-ca.pem" \
  -cert "$P/operators/admin.pem" -key "$P/operators/admin.key" </dev/null 2>&1)
grep -q "Cipher is (NONE)\|alert protocol version\|no protocols available" <<<"$out" ||
  lf_die "a TLS 1.2 handshake with the web side succeeded: $(grep -m1 'Cipher' <<<"$out")"
sess="$LF_DIR/admin.sess"
for i in 1 2; do
  out=$(printf 'GET /api/overview HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    openssl s_client -quiet -ign_eof -connect "127.0.0.1:$LF_OPERATOR_PORT" -alpn http/1.1 -CAfile "$P/fleet-ca.pem" \
      -cert "$P/operators/admin.pem" -key "$P/operators/admin.key" -sess_out "$sess" 2>&1)
done
out=$(printf 'GET /api/overview HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
  openssl s_client -ign_eof -connect "127.0.0.1:$LF_OPERATOR_PORT" -alpn http/1.1 -CAfile "$P/fleet-ca.pem" \
    -sess_in "$sess" 2>&1)
grep -q '"fleet":"demo"' <<<"$out" && lf_die "a saved TLS session without the certificate was served"
out=$(get /api/overview "${as_admin[@]}" -H "Sec-Fetch-Site: cross-site")
[ "$(tail -n 1 <<<"$out")" = 403 ] || lf_die "a cross-site request: $out"
out=$(get /api/overview "${as_admin[@]}" -H "Sec-Fetch-Site: same-origin")
[ "$(tail -n 1 <<<"$out")" = 200 ] || lf_die "a same-origin request: $out"
ok "TLS 1.2 refused, a saved session without the certificate refused, cross-site 403"

step "a kept-alive connection: its next request, once started, has the request deadline (10 s), not the idle one"
took=$(python3 - "$LF_OPERATOR_PORT" "$P" <<'PY'
import socket, ssl, sys, time
port, pki = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=pki + "/fleet-ca.pem")
ctx.load_cert_chain(pki + "/operators/admin.pem", pki + "/operators/admin.key")
ctx.set_alpn_protocols(["http/1.1"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.sendall(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(65536)
assert data.startswith(b"HTTP/1.1 200"), data[:100]
s.sendall(b"GET /api/overview HTTP/1.1\r\n")  # then nothing more
start = time.monotonic()
s.settimeout(30)
try:
    while s.recv(65536):
        pass
except (ssl.SSLError, OSError):
    pass
print(round(time.monotonic() - start))
PY
) || lf_die "the keep-alive probe failed"
[ "$took" -ge 8 ] && [ "$took" -le 20 ] || lf_die "a started request on a kept-alive connection was cut after ${took} s, not about 10"
ok "cut after ${took} s"

step "the operator CA file replaced: the web side follows it, as gRPC does"
cp "$P/operator-ca.pem" "$LF_DIR/operator-ca.orig"
sleep 1  # a new modification time
cp "$LF_DIR/other/operator-ca.pem" "$P/operator-ca.pem"
other_admin=(--cert "$LF_DIR/other/operators/admin.pem" --key "$LF_DIR/other/operators/admin.key")
served_other() { [ "$(get /api/overview "${other_admin[@]}" | tail -n 1)" = 200 ]; }
lf_wait_for 15 served_other || lf_die "the new operator CA's admin is not let in"
out=$(get /api/overview "${as_admin[@]}"); rc=$?
[ $rc -ne 0 ] && [ "$(tail -n 1 <<<"$out")" = 000 ] || lf_die "the replaced CA's admin still served: $out"
cp "$LF_DIR/operator-ca.orig" "$P/operator-ca.pem"
served_admin() { [ "$(get /api/overview "${as_admin[@]}" | tail -n 1)" = 200 ]; }
lf_wait_for 15 served_admin || lf_die "the original CA's admin is not let in again"
# and edgectl's gRPC calls too (the steps below are edgectl's), which may take their reload a
# moment after the web side's
grpc_admin() { lf_edgectl get devices >/dev/null 2>&1; }
lf_wait_for 15 grpc_admin || lf_die "edgectl as the original CA's admin is not let in again"
ok "new CA's operator in, old one out, and back"

step "an operator without a role, then a revoked one: 403, and the refusal is audited"
lf_edgectl pki operator --dir "$P" --fleet demo bob 2>/dev/null || lf_die "pki operator bob"
as_bob=(--cert "$P/operators/bob.pem" --key "$P/operators/bob.key")
out=$(get /api/overview "${as_bob[@]}")
[ "$(tail -n 1 <<<"$out")" = 403 ] || lf_die "bob without a role: $out"
expect_contains "has no role" "$out"
out=$(get / "${as_bob[@]}")
[ "$(tail -n 1 <<<"$out")" = 403 ] || lf_die "the page for bob without a role: $out"
out=$(lf_edgectl operator add bob --role viewer 2>&1) || lf_die "operator add bob: $out"
out=$(get /api/overview "${as_bob[@]}")
[ "$(tail -n 1 <<<"$out")" = 200 ] || lf_die "bob as a viewer: $out"
# An operator's free text with markup: it reaches the audit log and the page as it was typed.
XSS='<img src=x onerror=document.title="pwned"><script>document.title="pwned"</script>'
lf_edgectl revoke operator bob --reason "$XSS" 2>/dev/null || lf_die "revoke bob"
out=$(get /api/overview "${as_bob[@]}")
[ "$(tail -n 1 <<<"$out")" = 403 ] || lf_die "revoked bob: $out"
expect_contains "revoked" "$out"
audit=$(lf_edgectl get audit --actor operator/bob --action Dashboard -o json 2>/dev/null) || lf_die "get audit"
expect_contains '"result":"permission_denied"' "$(tr -d ' ' <<<"$audit")"
ok "403 with the reason; refused dashboard reads are in get audit"

step "gRPC on the same port is unaffected"
lf_edgectl get devices >/dev/null 2>&1 || lf_die "edgectl on the dashboard's port"
ok "edgectl get devices"

# --- A real browser, driven over the DevTools protocol (browser_driver.py). ---
# browser_home DIR [CERT KEY]: an NSS database trusting the fleet CA (and holding the operator's
# certificate and key), and a profile that picks that certificate for the controller's origin
# without asking (the content setting an operator's "remember this choice" would store).
browser_home() {
  local home=$1
  mkdir -p "$home/.pki/nssdb" "$home/profile/Default"
  certutil -N --empty-password -d "sql:$home/.pki/nssdb" || lf_die "certutil -N"
  certutil -A -n fleet-ca -t "C,," -i "$P/fleet-ca.pem" -d "sql:$home/.pki/nssdb" || lf_die "certutil -A"
  if [ $# -ge 3 ]; then
    openssl pkcs12 -export -in "$2" -inkey "$3" -out "$home/op.p12" -passout pass: || lf_die "pkcs12"
    pk12util -i "$home/op.p12" -d "sql:$home/.pki/nssdb" -W "" >/dev/null || lf_die "pk12util"
  fi
  cat >"$home/profile/Default/Preferences" <<JSON
{"profile": {"content_settings": {"exceptions": {"auto_select_certificate": {
  "$URL,*": {"setting": {"filters": [{}]}}}}}}}
JSON
}
browser_home "$LF_DIR/browser" "$P/operators/admin.pem" "$P/operators/admin.key"
browser_home "$LF_DIR/nocert"
# browser HOME ARGS...: one page of $URL/ (browser_driver.py flags).
browser() {
  local home=$1; shift
  python3 "$here/browser_driver.py" --chromium "$CHROMIUM" --home "$home" --url "$URL/" \
    --timeout $((60 * LF_TS)) "$@" 2>>"$LF_DIR/chromium.log"
}
LIVE='document.getElementById("status").dataset.state === "live"'

step "a browser without a certificate gets no page"
out=$(browser "$LF_DIR/nocert" --wait-for 'document.readyState === "complete" && location.href !== "about:blank"' \
  --eval '[location.href, !!document.getElementById("fleet"), document.body.innerText.slice(0, 200)]') ||
  lf_die "the no-certificate browser did not load anything: $out"
grep -q '^EVAL \["chrome-error://[^"]*",false,' <<<"$out" || lf_die "a browser without a certificate was served: $out"
ok "refused: $(grep -o 'ERR_[A-Z_]*' <<<"$out" | head -n 1)"

step "the operator's browser: the fleet as it is, and markup shown as text"
out=$(browser "$LF_DIR/browser" --wait-for "$LIVE" --dom "$LF_DIR/page.html" \
  --eval '[document.title, document.getElementById("fleet").textContent, document.getElementById("who").textContent]') ||
  lf_die "the page never went live: $out; $(grep -o "<div id=\"status\".*" "$LF_DIR/page.html"); $(grep -o "<div id=\"error\".*" "$LF_DIR/page.html")"
grep -qF 'EVAL ["edgefleet","demo","operator admin (admin)"]' <<<"$out" || lf_die "the page shows: $out"
page=$(cat "$LF_DIR/page.html")
grep -q 'data-device="gw-1" data-online="true"' <<<"$page" || lf_die "gw-1 is not shown online"
grep -q '&lt;img src=x onerror=document.title="pwned"&gt;&lt;script&gt;' <<<"$page" ||
  lf_die "the audit reason is not shown as text: $(grep -o 'operator.revoke.\{0,300\}' <<<"$page")"
grep -qi '<img src=x' <<<"$page" && lf_die "markup from an audit reason became an element"
ok "title unchanged, fleet demo, gw-1 online, the revoke reason's markup is text"

step "deploy mlp:v1 while the page is open; it shows the rollout until converged"
mlp_selftest mlp_anomaly.qdq "$LF_DIR/st.json"
make_model "$LF_DIR/v1.onnx"
b1=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/st.json")
lf_edgectl model push "$b1" 2>/dev/null || lf_die "push v1"
mkdir -p "$LF_BIN/test-artifacts"
shot="$LF_BIN/test-artifacts/dashboard.png"
rm -f "$shot"
CONVERGED='(() => { const r = document.querySelector("tr[data-rollout=\"1\"]");
  const d = document.querySelector("tr[data-device=\"gw-1\"]");
  return !!r && r.dataset.state === "completed" && r.dataset.updated === "1" && !!d && d.dataset.converged === "true"; })()'
WATCH='(() => { const r = document.querySelector("tr[data-rollout=\"1\"]"); return r ? r.dataset.state + " " + r.dataset.updated + "/" + r.dataset.total : "no rollout"; })()'
browser "$LF_DIR/browser" --ready-when "$LIVE" --wait-for "$CONVERGED" --watch "$WATCH" --screenshot "$shot" \
  --dom "$LF_DIR/page.html" >"$LF_DIR/watch.out" &
driver=$!
lf_wait_for 60 grep -q READY "$LF_DIR/watch.out" || lf_die "the page did not go live: $(cat "$LF_DIR/watch.out")"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v1"
wait "$driver" || lf_die "the page never showed rollout 1 completed and gw-1 converged: $(cat "$LF_DIR/watch.out")"
grep -q '^WATCH "no rollout"' "$LF_DIR/watch.out" || lf_die "the page was not open before the deploy: $(cat "$LF_DIR/watch.out")"
grep -q '^WATCH "completed 1/1"' "$LF_DIR/watch.out" || lf_die "no completed state seen: $(cat "$LF_DIR/watch.out")"
grep -q 'mlp: v1 → v1' "$LF_DIR/page.html" || lf_die "gw-1's running and desired versions are not shown"
ok "the open page showed: $(sed -n 's/^WATCH "\(.*\)"/\1/p' "$LF_DIR/watch.out" | paste -sd '>' | sed 's/>/ -> /g')"

step "screenshot"
[ -s "$shot" ] || lf_die "no screenshot"
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || lf_die "the screenshot is not a PNG"
[ "$(stat -c %s "$shot")" -gt 20000 ] || lf_die "the screenshot is suspiciously small ($(stat -c %s "$shot") bytes)"
ok "$shot ($(stat -c %s "$shot") bytes)"
