#!/usr/bin/env bash
# The upload page (GET /, share/index.html) in a real browser: Debian's headless
# Chromium, driven through chromedriver's W3C WebDriver API with curl and jq
# (as tests/docs-browser.test.sh does; no npm package, no browser download).
#  1. offerd --auth off on a throwaway SQLite database serves the page; it
#     loads nothing but offerd's own URLs and every control has a label.
#  2. examples/company_B.csv goes in through the page's file input: the page
#     shows 19 rows ok, 0 failed, a preview with customer 2394823 and no
#     failed row, and a "Download result CSV" link (offers.csv). The Blob's
#     text, read through the page, has 19 ok rows, three distinct offers each,
#     no OFFER_4/5/6 on any Europa row and no OFFER_1/3/4 for the customers
#     aged 71 and 80; clicking the link saves the same bytes to disk.
#  3. "product names (v2)" on and "apply Company B rules" off: the request is
#     POST /batch?v2=1&rules=none and the preview has the product columns.
#     A file dropped on the drop zone is uploaded too.
#  4. Rows that fail are highlighted in the preview with their errors; a
#     header without customer_id: the page shows the 400 and its message.
#  5. Upload progress moves on a throttled upload, and Cancel stops it.
#  6. offerd with API keys (a key made with offerctl): no key and a wrong key
#     give the 401 in plain words, the right key gives 19 rows ok, and the key
#     survives a reload in sessionStorage, never in localStorage.
# A screenshot of the result is left in $OFFERD_BUILD/upload-page.png (and of
# failed rows and of the 400 in upload-page-failed.png, upload-page-error.png).
#
# Exit 77 (skipped) only when $OFFERD_BUILD/offerd does not exist; any other
# problem fails. Bounded: the whole script stops after 300 s.
# Runs from the repository root with $OFFERD_BUILD (scripts/run-tests.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
build=${OFFERD_BUILD:-build}
bin=$build/offerd
ctl=$build/offerctl
input=examples/company_B.csv
shot=$build/upload-page.png

[[ -x $bin ]] || { echo "SKIP: $bin does not exist (make build)"; exit 77; }

# One time limit for everything: rerun under timeout(1), which ends the whole
# process group (offerd, chromedriver, Chromium) if the cleanup cannot.
if [[ -z ${UPLOAD_TEST_TIMED:-} ]]; then
  UPLOAD_TEST_TIMED=1 exec timeout -k 10 300 bash "$0" "$@"
fi

command -v jq >/dev/null && command -v curl >/dev/null ||
  { echo "FAIL: curl and jq are needed: scripts/deps.sh --test installs them"; exit 1; }
if [[ ! -f $build/share/index.html ]]; then
  echo "FAIL: $build/share/index.html is missing: make build copies share/ there"
  exit 1
fi
if ! cmp -s share/index.html "$build/share/index.html"; then
  echo "FAIL: $build/share/index.html is not share/index.html: run make build"
  exit 1
fi

source "$(dirname "$0")/webdriver_lib.sh" # wd_*, wdcall, js, until_js, element, click, type_into
wd_need_chromium || { echo "FAIL: Chromium is not available (see above)"; exit 1; }

tmp=$(mktemp -d)
server_pid= server2_pid=
cleanup() {
  wd_stop
  for pid in $server2_pid $server_pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted (time limit?)"; exit 1' TERM INT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# start_offerd LOG DB [ARGS...]: offerd on a port the kernel picks; sets
# $url (empty when it did not start) and $last_pid.
start_offerd() {
  local log=$1 db=$2
  url=
  shift 2
  "$bin" --port 0 --host 127.0.0.1 --database-url "sqlite:$db" "$@" >"$log" 2>&1 &
  last_pid=$!
  url=$(listen_url "$log" "$last_pid") && curl -sf -m 2 -o /dev/null "$url/is-alive" || url=
}

# --- 1. offerd, chromedriver, Chromium -----------------------------------------
start_offerd "$tmp/offerd.log" "$tmp/offerd.db" --auth off
server_pid=$last_pid base=$url
if [[ -z $base ]]; then
  echo "FAIL: offerd did not start; its log:"
  cat "$tmp/offerd.log"
  exit 1
fi
echo "offerd at $base"
c=$(curl -s -m 5 -o "$tmp/index.html" -w '%{http_code} %{content_type}' "$base/")
[[ $c == "200 text/html"* ]] && cmp -s "$tmp/index.html" share/index.html &&
  ok "GET / serves share/index.html ($c)" || fail "GET / answered $c, not share/index.html"

wd_start "$tmp/chromedriver.log" || { echo "FAIL: chromedriver did not start"; tail -n 30 "$tmp/chromedriver.log"; exit 1; }
jsasync() {  # jsasync 'script calling done(value)' -> the value, as JSON
  wdcall POST "/session/$sid/execute/async" \
    "$(jq -nc --arg s "var done = arguments[arguments.length - 1]; $1" '{script: $s, args: []}')"
}
text() {  # text CSS-SELECTOR -> its textContent, trimmed
  js "var e = document.querySelector('$1'); return e ? e.innerText.trim().replace(/\\s+/g, ' ') : null" | jq -r .
}
choose_file() {  # choose_file PATH: what a person does with the file input
  local eid
  eid=$(element '#file') || return 1
  wdcall POST "/session/$sid/element/$eid/value" "$(jq -nc --arg t "$1" '{text: $t}')" >/dev/null
}
set_checkbox() {  # set_checkbox CSS-SELECTOR true|false, by clicking it
  [[ $(js "return document.querySelector('$1').checked") == "$2" ]] || click "$1"
}
open_page() {
  wd_open "$1" &&
    until_js "return document.readyState === 'complete' && !!document.getElementById('upload')" 15
}
# upload: press the button; wait for the result or the error box
upload() {
  js "document.getElementById('result').removeAttribute('data-state'); return true" >/dev/null
  click '#upload' || return 1
  until_js "return document.getElementById('result').getAttribute('data-state') === 'done' ||
                   (!document.getElementById('error').hidden && !document.getElementById('upload').disabled)" 60
}
visible() { [[ $(js "var e = document.querySelector('$1'); return !!e && !e.hidden && e.offsetParent !== null") == true ]]; }

mkdir -p "$tmp/downloads"
if ! wd_session "$tmp/profile" 1280,1400 "$(jq -nc --arg dl "$tmp/downloads" '{"goog:chromeOptions": {prefs: {
      "download.default_directory": $dl, "download.prompt_for_download": false,
      "download.directory_upgrade": true, "safebrowsing.enabled": false}}}')"; then
  echo "FAIL: Chromium did not start; chromedriver's log:"
  tail -n 30 "$tmp/chromedriver.log"
  exit 1
fi
ok "Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') started"

open_page "$base/" || fail "could not open $base/"
title=$(js 'return document.title' | jq -r .)
[[ $title == "offerd — batch offers" ]] && ok "title: $title" || fail "title: $title"
[[ $(js "return !!document.querySelector('a[href=\"docs\"], a[href=\"/docs\"]')") == true ]] &&
  ok "links to /docs" || fail "no link to /docs"
# Every control has an accessible name: a <label for>, or its own text.
unlabelled=$(js "return Array.from(document.querySelectorAll('input, button, select, textarea, a'))
  .filter(e => !(e.labels && e.labels.length) && !e.textContent.trim() && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML.slice(0, 80))")
[[ $unlabelled == "[]" ]] && ok "every control has a label" || fail "controls without a label: $unlabelled"
[[ $(js "return document.getElementById('opt-rules').checked && !document.getElementById('opt-v2').checked") == true ]] &&
  ok "defaults: Company B rules on, v2 off" || fail "wrong defaults for the options"

# --- 2. company_B.csv through the file input -------------------------------------
choose_file "$root/$input" || fail "could not set the file input"
[[ $(text '#file-info') == *company_B.csv* ]] && ok "the page shows the chosen file: $(text '#file-info')" ||
  fail "the chosen file is not shown: $(text '#file-info')"
start=$(date +%s.%N)
upload || fail "no result or error within 60 s: $(text '#status')"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if visible '#result'; then
  ok "result shown after ${secs}s"
else
  fail "no result; the error box says: $(text '#error')"
fi
n_ok=$(text '#rows-ok') n_failed=$(text '#rows-failed')
[[ $n_ok == 19 ]] && ok "rows ok: 19" || fail "rows ok: '$n_ok', expected 19"
[[ $n_failed == 0 ]] && ok "rows failed: 0" || fail "rows failed: '$n_failed', expected 0"
rows=$(js "return document.querySelectorAll('#preview tbody tr').length")
[[ $rows == 19 ]] && ok "the preview has the 19 rows" || fail "the preview has $rows rows, expected 19"
[[ $(js "return Array.from(document.querySelectorAll('#preview tbody td')).some(td => td.textContent.trim() === '2394823')") == true ]] &&
  ok "the preview shows customer 2394823" || fail "customer 2394823 is not in the preview"
[[ $(js "return document.querySelectorAll('#preview tbody tr.failed').length") == 0 ]] &&
  ok "no row highlighted as failed" || fail "rows highlighted as failed: $(js "return document.querySelectorAll('#preview tr.failed').length")"
[[ $(js "var a = document.getElementById('download'); return a.getAttribute('download') + ' ' + a.href.slice(0, 5)") == '"offers.csv blob:"' ]] &&
  ok "Download result CSV: a Blob URL named offers.csv" || fail "the download link: $(js "return document.getElementById('download').outerHTML")"

# The Blob the link points at, read through the page.
jsasync "fetch(document.getElementById('download').href).then(r => r.text()).then(done, e => done('ERROR ' + e))" |
  jq -j . >"$tmp/page.csv"
head -n 1 "$tmp/page.csv"
# check_result FILE: 19 ok rows of Company B's customers, three distinct offers
# each, and Company B's rules honoured. Prints what is wrong.
check_result() {
  awk -F, '
    NR == FNR { if (FNR > 1) { split($0, f, ";"); age[f[1]] = f[2]; region[f[1]] = f[6] }; next }
    FNR == 1 {
      if ($0 != "customer_id,response_date,offer_1,offer_2,offer_3,status,error") { print "  header: " $0; bad++ }
      next
    }
    {
      n++; id = $1; o = " " $3 " " $4 " " $5 " "
      if (!(id in age)) { print "  row " n ": unknown customer \"" id "\""; bad++; next }
      if ($6 != "ok") { print "  row " n " (" id "): status " $6; bad++ }
      if ($3 !~ /^OFFER_[0-9]+$/ || $4 !~ /^OFFER_[0-9]+$/ || $5 !~ /^OFFER_[0-9]+$/ ||
          $3 == $4 || $3 == $5 || $4 == $5) { print "  row " n " (" id "): not three distinct offers:" o; bad++ }
      if (region[id] == "Europa") {
        europa++
        if (o ~ / OFFER_[456] /) { print "  row " n " (" id ", Europa):" o; bad++ }
      }
      if (age[id] + 0 > 65) {
        old++
        if (o ~ / OFFER_[134] /) { print "  row " n " (" id ", age " age[id] "):" o; bad++ }
      }
    }
    END {
      if (n != 19 || europa != 8 || old != 2) { print "  " n " rows, " europa " Europa, " old " over 65; expected 19, 8, 2"; bad++ }
      exit bad > 0
    }' <(tr -d '\r' <"$input") <(tr -d '\r' <"$1")
}
if check_result "$tmp/page.csv"; then
  ok "the result CSV: 19 ok rows; no OFFER_4/5/6 in Europa, no OFFER_1/3/4 at ages 71 and 80"
else
  fail "the result CSV read from the page breaks the rules or is incomplete"
fi
# The page's preview is the same CSV as the Blob.
preview=$(js "return Array.from(document.querySelectorAll('#preview tbody tr'))
                .map(tr => Array.from(tr.cells).slice(1, 6).map(c => c.textContent).join(',')).join('\n')" | jq -r .)
[[ $preview == "$(tr -d '\r' <"$tmp/page.csv" | tail -n +2 | cut -d, -f1-5)" ]] &&
  ok "the preview is the result CSV" || fail "the preview differs from the result CSV"

# A person's click on the link: Chromium saves offers.csv.
click '#download' || fail "cannot click Download result CSV"
for _ in $(seq 40); do [[ -f $tmp/downloads/offers.csv ]] && break; sleep 0.25; done
if [[ -f $tmp/downloads/offers.csv ]] && cmp -s "$tmp/downloads/offers.csv" "$tmp/page.csv"; then
  ok "clicking the link saves offers.csv, the same CSV"
else
  fail "clicking the link saved no offers.csv (downloads: $(ls "$tmp/downloads" | tr '\n' ' '))"
fi

js 'window.scrollTo(0, 0); document.activeElement.blur(); return true' >/dev/null
mkdir -p "$(dirname "$shot")"
wd_screenshot "$shot" && echo "screenshot: $shot"

# --- 3. the options reach the query string ------------------------------------
set_checkbox '#opt-v2' true
set_checkbox '#opt-rules' false
upload || fail "v2 upload: no result within 60 s"
last=$(js "var r = performance.getEntriesByType('resource').filter(e => e.initiatorType === 'xmlhttprequest');
           return r.length ? r[r.length - 1].name : ''" | jq -r .)
[[ $last == "$base/batch?v2=1&rules=none" ]] && ok "options ticked: POST ${last#"$base"}" ||
  fail "the options gave the URL '$last'"
heads=$(js "return Array.from(document.querySelectorAll('#preview thead th')).map(th => th.textContent).join(',')" | jq -r .)
[[ $heads == *product_1,product_2,product_3* && $(text '#rows-ok') == 19 ]] &&
  ok "v2: product columns in the preview, 19 rows ok" || fail "v2 preview: $heads, $(text '#rows-ok') ok"
set_checkbox '#opt-v2' false
set_checkbox '#opt-rules' true

# Drag and drop: a File dropped on the drop zone is the one uploaded.
js "var dt = new DataTransfer();
    dt.items.add(new File([$(head -n 3 "$input" | jq -Rs .)], 'dropped.csv', {type: 'text/csv'}));
    var z = document.getElementById('drop');
    ['dragenter', 'dragover', 'drop'].forEach(t => z.dispatchEvent(new DragEvent(t, {dataTransfer: dt, bubbles: true, cancelable: true})));
    return true" >/dev/null || fail "cannot drop a file"
[[ $(text '#file-info') == *dropped.csv* ]] || fail "the dropped file is not shown: $(text '#file-info')"
upload || fail "dropped file: no result within 60 s"
[[ $(text '#rows-ok') == 2 && $(js "return document.querySelectorAll('#preview tbody tr').length") == 2 ]] &&
  ok "a file dropped on the page is uploaded: 2 rows ok" || fail "dropped file: $(text '#rows-ok') rows ok; $(text '#error')"

# --- 4. rows that fail, and a broken file ----------------------------------------
# Rows 2 and 4 cannot be processed: highlighted in the preview with their error.
{ head -n 2 "$input"; printf '2394900;abc;1900-01-01;M;;Asia;;True;True;True;True;True;True;True;True;True;True\r\n'
  sed -n 3p "$input"; printf ';30;1900-01-01;M;;Asia;;True;True;True;True;True;True;True;True;True;True\r\n'; } >"$tmp/failing.csv"
choose_file "$tmp/failing.csv" || fail "could not set the file input"
upload || fail "failing rows: no result within 60 s"
got=$(js "return [document.getElementById('rows-ok').textContent, document.getElementById('rows-failed').textContent,
                  Array.from(document.querySelectorAll('#preview tbody tr')).map(tr => tr.classList.contains('failed') ? 'F' : '.').join(''),
                  Array.from(document.querySelectorAll('#preview tr.failed td.err')).map(td => td.textContent).join(' | ')]" | jq -r 'join(" / ")')
[[ $got == "2 / 2 / .F.F / age is not a number: 'abc' | missing customer_id" ]] &&
  ok "failing rows: 2 ok, 2 failed, highlighted with their errors" || fail "failing rows: $got"
js 'window.scrollTo(0, document.getElementById("result").offsetTop - 10); return true' >/dev/null
wd_screenshot "${shot%.png}-failed.png"

printf 'name;age;Offer_1\r\nAna;30;True\r\n' >"$tmp/broken.csv"
choose_file "$tmp/broken.csv" || fail "could not set the file input"
upload || fail "broken file: no answer within 60 s"
if visible '#error' && ! visible '#result'; then
  ok "broken file: the error box is shown, no result"
else
  fail "broken file: error box visible: $(visible '#error' && echo yes || echo no), result visible: $(visible '#result' && echo yes || echo no)"
fi
err=$(text '#error')
echo "  the page says: $err"
[[ $err == *"no customer_id column"* ]] && ok "broken file: the server's message is shown" ||
  fail "broken file: 'no customer_id column' is not shown"
[[ $err == *"HTTP 400"* && $err == *"could not read this CSV"* ]] && ok "broken file: 400 in plain words" ||
  fail "broken file: the 400 is not explained"
wd_screenshot "${shot%.png}-error.png"
[[ $(js "return document.getElementById('download').getAttribute('href')") == '"#"' ]] &&
  ok "broken file: no download link left from the previous result" || fail "a stale download link remains"

# Offline: every resource the page fetched came from offerd itself.
outside=$(js "return performance.getEntriesByType('resource').map(e => e.name)
              .filter(u => !u.startsWith(location.origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'))")
[[ $outside == "[]" ]] && ok "the page loaded nothing from outside offerd" || fail "the page fetched outside offerd: $outside"
errors=$(wdcall POST "/session/$sid/se/log" '{"type":"browser"}' 2>/dev/null |
         jq -c '[.[] | select(.level == "SEVERE") | .message]' 2>/dev/null) || errors=
[[ -z $errors || $errors == "[]" ]] || echo "note: browser console errors (the 400/401 answers are expected): $errors"


# --- 5. progress on a slow upload, and Cancel ------------------------------------
# 5,000 rows (about 440 KB) through an upload throttled to 100 KB/s: the bar
# and the status move, then Cancel stops the upload.
awk -v n=5000 'NR == 1 { print; next } NR == 2 { for (i = 0; i < n; i++) { $0 = $0; sub(/^[0-9]+/, 3000000 + i); print } }' \
  "$input" >"$tmp/slow.csv"
wdcall POST "/session/$sid/chromium/network_conditions" \
  '{"network_conditions": {"offline": false, "latency": 0, "download_throughput": 1000000, "upload_throughput": 100000}}' >/dev/null ||
  fail "cannot throttle the network"
choose_file "$tmp/slow.csv" || fail "could not set the file input"
click '#upload' || fail "cannot click Upload"
if until_js "var p = document.getElementById('progress');
             return !document.getElementById('progress-area').hidden && p.value > 0 && p.value < 100 &&
                    /Uploading and processing: [0-9]+% \\(/.test(document.getElementById('status').textContent)" 15; then
  ok "upload progress: $(text '#status')"
else
  fail "no upload progress shown: $(text '#status')"
fi
click '#cancel' || fail "cannot click Cancel"
until_js "return !document.getElementById('error').hidden && !document.getElementById('upload').disabled" 10 &&
  [[ $(text '#error-title') == "Upload cancelled" ]] && ! visible '#result' && ! visible '#progress-area' &&
  ok "Cancel stops the upload and says so" || fail "Cancel: the page shows $(text '#error')"
wdcall DELETE "/session/$sid/chromium/network_conditions" >/dev/null

# --- 6. with API keys ---------------------------------------------------------
if [[ -x $ctl ]] && key=$(timeout 30 "$ctl" keys create --company B --database-url "sqlite:$tmp/keys.db" 2>/dev/null) &&
   [[ -n $key ]]; then
  start_offerd "$tmp/offerd2.log" "$tmp/keys.db" --auth on
  server2_pid=$last_pid base2=$url
  if [[ -z $base2 ]]; then
    fail "offerd with --auth on did not start: $(tail -n 5 "$tmp/offerd2.log")"
  else
    open_page "$base2/" || fail "could not open $base2/"
    choose_file "$root/$input"
    upload
    err=$(text '#error')
    [[ $err == *"needs an API key"* && $err == *"HTTP 401"* ]] && ok "no key: 401 in plain words" ||
      fail "no key: the page says '$err'"
    type_into '#api-key' "ofr_not_a_real_key_0000"
    upload
    err=$(text '#error')
    [[ $err == *"not accepted"* && $err == *"HTTP 401"* ]] && ok "wrong key: 401 in plain words" ||
      fail "wrong key: the page says '$err'"
    type_into '#api-key' "$key"
    upload
    [[ $(text '#rows-ok') == 19 ]] && visible '#result' && ok "the right key: 19 rows ok" ||
      fail "the right key: $(text '#rows-ok') ok; error: $(text '#error')"
    open_page "$base2/"
    [[ $(js "return document.getElementById('api-key').value") == "\"$key\"" &&
       $(js 'return localStorage.length') == 0 ]] &&
      ok "the key survives a reload in sessionStorage, not in localStorage" ||
      fail "after a reload the key field holds $(js "return document.getElementById('api-key').value")"
  fi
else
  echo "note: $ctl cannot make an API key; the checks with keys are left out"
fi

echo
if [[ $fails -eq 0 ]]; then echo "upload-browser: all checks passed"; exit 0; fi
echo "upload-browser: $fails check(s) failed; offerd's log:"
tail -n 20 "$tmp/offerd.log"
exit 1
