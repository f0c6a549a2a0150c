#!/usr/bin/env bash
# run.sh -- parley-tui driven like a person would (issue 20): a real parleyd
# in a temp dir on a free loopback port, users registered over the HTTP API,
# the client in a detached tmux session of a fixed size on a tmux socket of
# our own (send-keys to type, capture-pane to read the screen), and a second
# user talking through the parley CLI. Every wait polls the screen for the
# expected text with a deadline; nothing sleeps and hopes.
#
# Environment (CTest sets them): PARLEYD, PARLEY_CLI, PARLEY_TUI, and
# TUI_SCREENS (where the captures are saved as text, to look at).
# Exit 77 (skipped) without tmux or curl.
set -euo pipefail

for tool in tmux curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: no $tool: skipped"; exit 77; }
done
: "${PARLEYD:?}" "${PARLEY_CLI:?}" "${PARLEY_TUI:?}"
SCREENS=${TUI_SCREENS:-$PWD/tui-screens}
mkdir -p "$SCREENS"

DIR=$(mktemp -d /tmp/parley-tui-XXXXXX)
SOCK="parley-tui-$$"
SPID=""
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC

cleanup() {
  local rc=$?
  tmux -L "$SOCK" kill-server >/dev/null 2>&1 || true # our own socket only
  rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK"      # and its socket file
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  if [ $rc -ne 0 ]; then
    echo "--- parleyd log (tail)"; tail -20 "$DIR/parleyd.log" 2>/dev/null || true
    echo "--- parley-tui stderr"; tail -30 "$DIR"/tui-*.err 2>/dev/null || true
  fi
  rm -rf "$DIR"
  exit $rc
}
trap cleanup EXIT

start_server() {
  "$PARLEYD" --listen "127.0.0.1:$PORT" --data "$DIR/data" --set argon2_opslimit=1 \
    --set argon2_memlimit=8k --set register_per_ip_hour=1000000 \
    --set login_per_ip_min=1000000 >>"$DIR/parleyd.log" 2>&1 &
  SPID=$!
  local deadline=$((SECONDS + 30))
  until curl -sf "$URL/healthz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "parleyd did not start"; exit 1; }
    sleep 0.1
  done
}

register() { # USER: over the HTTP API
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"secret-pass-1\"}" "$URL/v1/register" >/dev/null
}

bob() { HOME="$DIR/bob" "$PARLEY_CLI" --server "$URL" "$@"; }

cap() { tmux -L "$SOCK" capture-pane -p -t "$1"; }
keys() { local t=$1; shift; tmux -L "$SOCK" send-keys -t "$t" "$@"; }
type_line() { keys "$1" -l "$2"; keys "$1" Enter; }

fail() {
  echo "FAIL: $*"
  echo "--- screen"; cap "${T:-t}" || true
  exit 1
}

# wait_for SESSION TEXT [SECONDS]: polls the screen until TEXT shows.
wait_for() {
  local t=$1 text=$2 deadline=$((SECONDS + ${3:-20}))
  until cap "$t" | grep -qF -- "$text"; do
    [ $SECONDS -lt $deadline ] || fail "'$text' did not show on $t"
    sleep 0.1
  done
}

# wait_gone SESSION TEXT: polls until TEXT is no longer on the screen.
wait_gone() {
  local t=$1 text=$2 deadline=$((SECONDS + ${3:-20}))
  while cap "$t" | grep -qF -- "$text"; do
    [ $SECONDS -lt $deadline ] || fail "'$text' stayed on $t"
    sleep 0.1
  done
}

# wait_input SESSION TEXT: polls until the composer holds exactly TEXT
# (capture-pane drops trailing spaces, so TEXT has none).
wait_input() {
  local t=$1 want deadline=$((SECONDS + ${3:-20}))
  want=$(printf '> %s' "$2" | sed 's/ *$//')
  until [ "$(cap "$t" | sed -n '$p')" = "$want" ]; do
    [ $SECONDS -lt $deadline ] || fail "the composer of $t does not hold '$want'"
    sleep 0.1
  done
}

save() { cap "$1" >"$SCREENS/$2.txt"; echo "saved $SCREENS/$2.txt"; }

# The screen's layout holds: every row at most COLS display columns, the
# room list's border in the same column on every row above the status bar,
# the status bar and composer on the last two rows.
check_layout() {
  local t=$1 cols=$2 rows=$3 listw=$4
  cap "$t" | python3 -c '
import sys, unicodedata
cols, rows, listw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lines = sys.stdin.read().split("\n")
def width(s):
    w = 0
    for ch in s:
        if unicodedata.combining(ch) or ch in "\u200d\ufe0f": continue
        w += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return w
for i, l in enumerate(lines[:rows]):
    if width(l) > cols: sys.exit("row %d is %d columns wide: %r" % (i, width(l), l))
for i, l in enumerate(lines[:rows - 2]):
    if width(l.split("\u2502")[0]) != listw and "\u2502" in l:
        sys.exit("row %d: the room list border moved: %r" % (i, l))
    if "\u2502" not in l: sys.exit("row %d has no room list border: %r" % (i, l))
if not lines[rows - 2].startswith(" ["): sys.exit("no status bar: %r" % lines[rows - 2])
if not lines[rows - 1].startswith(">"): sys.exit("no composer: %r" % lines[rows - 1])
' "$cols" "$rows" "$listw" || fail "layout of $t"
}

start_server
register alice
register bob
mkdir -p "$DIR/alice" "$DIR/bob"
PARLEY_PASSWORD=secret-pass-1 bob login bob >/dev/null

# Bob writes first: a dm with 60 messages (more than one history page) and a
# group with a mention of alice.
DM=$(bob dm alice | tail -1)
for i in $(seq 1 60); do bob send "$DM" "old message $i" >/dev/null; done
GROUP=$(bob group general alice | tail -1)
bob send "$GROUP" "welcome to general" >/dev/null
bob send "$GROUP" "@alice are you there?" >/dev/null
bob send "$GROUP" "lunch at noon" >/dev/null

# The mention hook: records who mentioned alice and what they said.
cat >"$DIR/notify.sh" <<'SH'
printf '%s|%s|%s\n' "$PARLEY_NOTIFY_ROOM" "$PARLEY_NOTIFY_FROM" "$PARLEY_NOTIFY_TEXT" >>"$(dirname "$0")/notify.log"
SH

# --- log in (80x24), rooms with unread counts
T=t
tmux -L "$SOCK" -f /dev/null new-session -d -s t -x 80 -y 24 \
  "env HOME=$DIR/alice TERM=tmux-256color PARLEY_PASSWORD=secret-pass-1 \
   $PARLEY_TUI --server $URL --login alice --notify 'sh $DIR/notify.sh' 2>$DIR/tui-t.err"
wait_for t "[connected] alice"
wait_for t "2 general"
wait_for t "3@1│" # 3 unread, 1 mention (bold in the list), right-aligned
wait_for t "old message 60"     # the dm opened first, its newest page
save t 01-login-80x24
check_layout t 80 24 18

# --- open the group (Alt-2): history, counts cleared
keys t M-2
wait_for t "welcome to general"
wait_for t "@alice are you there?"
wait_gone t "3@1"
save t 02-group-history

# --- a live message
bob send "$GROUP" "live from bob" >/dev/null
wait_for t "[4] "
wait_for t "bob: live from bob"

# --- typing indicator from bob? (the CLI cannot type) -- alice sends,
# replies, reacts and edits
type_line t "hello from the terminal"
wait_for t "alice: hello from the terminal ✓"
type_line t "/reply 4 sure, coming"
wait_for t "alice: ↪ bob: live from bob" # the quote heads the reply
wait_for t "                 sure, coming"
type_line t "/react 4 :thumbsup:"
wait_for t "👍 1"
type_line t "/edit 5 hello from the terminal, edited"
wait_for t "hello from the terminal, edited (edited)"
# bob sees alice's reply, reaction and edit
bob history "$GROUP" | grep -q "hello from the terminal, edited (edited)" || fail "bob misses the edit"
bob history "$GROUP" | grep -q "👍 1" || fail "bob misses the reaction"
# bob reads: alice's messages get ✓✓
bob read "$GROUP" 1000 >/dev/null # clamped to the last seq
wait_for t "sure, coming ✓✓"
save t 03-reply-react-edit

# --- a very long message and an emoji-heavy one
LONG="long-start $(printf 'lorem ipsum dolor sit amet %.0s' $(seq 1 40))long-end"
bob send "$GROUP" "$LONG" >/dev/null
wait_for t "long-end"
check_layout t 80 24 18
EMOJI="emoji: 👍🎉🔥 日本語テキスト 👩‍👩‍👧 café é 🇫🇷 ❤️ done-emoji"
bob send "$GROUP" "$EMOJI" >/dev/null
wait_for t "done-emoji"
check_layout t 80 24 18
save t 04-long-and-emoji
# Hostile text: terminal escapes and control characters from the network
# are drawn as '?', never sent to the terminal.
bob send "$GROUP" $'evil \e[31mred\e[0m \e]0;pwned\a tab\there end-evil' >/dev/null
wait_for t "end-evil"
wait_for t "evil ?[31mred?[0m ?]0;pwned? tab?here end-evil"
check_layout t 80 24 18

# --- composer: readline keys and Tab completion
keys t -l "/jo"
keys t Tab
wait_input t "/join"
keys t C-u
keys t -l "hi bo"
keys t Tab
wait_input t "hi bob"
keys t -l "and :tad"
keys t Tab
wait_input t "hi bob and 🎉"
keys t C-w C-w C-w
wait_input t "hi"
keys t C-a
keys t -l "oh "
keys t C-e
keys t -l "there"
wait_input t "oh hi there"
keys t C-u
wait_input t ""

# --- scroll back into older history: the dm's first page holds 50 of 60
keys t M-1
wait_for t "old message 60"
deadline=$((SECONDS + 30))
until cap t | grep -qF "start of the conversation"; do
  [ $SECONDS -lt $deadline ] || fail "PageUp did not reach the start of the dm"
  keys t PPage
  sleep 0.2
done
wait_for t "old message 1"
wait_for t "(scrolled back: PageDown)"
save t 05-scrollback
for _ in 1 2 3 4 5 6 7 8 9 10; do keys t NPage; done
wait_for t "old message 60"
wait_gone t "scrolled back"

# --- Ctrl-N / Ctrl-P switch rooms
keys t C-n
wait_for t "│ #general"
keys t C-p
wait_for t "│ @bob"

# --- a file: /upload sends it as a message with its size, /download fetches it
printf 'the file body\n' >"$DIR/notes.txt"
type_line t "/upload $DIR/notes.txt"
wait_for t "notes.txt 14 B]"
MEDIA=$(cap t | grep -o '\[file f[0-9]* notes.txt' | tail -1 | cut -d' ' -f2)
type_line t "/download $MEDIA $DIR/fetched.txt"
wait_for t "saved $DIR/fetched.txt"
cmp -s "$DIR/notes.txt" "$DIR/fetched.txt" || fail "the downloaded file differs"

# --- a mention in another room: counted in the list, the hook runs
bob send "$GROUP" "@alice ping from general" >/dev/null
wait_for t "1@1│"
deadline=$((SECONDS + 20))
until grep -qF "general|bob|@alice ping from general" "$DIR/notify.log" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the notify command did not run"
  sleep 0.1
done

# --- server restart while open: reconnects, catches up, no duplicates
kill "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=""
wait_for t "[reconnecting]"
start_server
# bob's message may reach alice by catch-up or live; either way once
bob send "$DM" "after the restart" >/dev/null
wait_for t "[connected]" 30
wait_for t "after the restart" 30
n=$(cap t | grep -cF "after the restart")
[ "$n" = 1 ] || fail "'after the restart' shown $n times"
bob send "$DM" "and one more" >/dev/null
wait_for t "and one more"
dups=$(cap t | grep -o '^[^│]*│\[[0-9]*\]' | sed 's/.*│//' | sort | uniq -d)
[ -z "$dups" ] || fail "duplicate messages on screen: $dups"
save t 06-after-restart

# --- 200x50 by SIGWINCH: the same client redraws at the new size
tmux -L "$SOCK" resize-window -t t -x 200 -y 50
wait_for t "Rooms                   │" # the room list widens to 24 columns
check_layout t 200 50 24
save t 07-resized-200x50

# --- 256 colours used; NO_COLOR honoured (a second client, 200x50)
tmux -L "$SOCK" capture-pane -e -p -t t | grep -q $'\e\[38;5;' || fail "no 256-colour output"
tmux -L "$SOCK" -f /dev/null new-session -d -s n -x 200 -y 50 \
  "env HOME=$DIR/alice TERM=tmux-256color NO_COLOR=1 $PARLEY_TUI 2>$DIR/tui-n.err"
T=n
wait_for n "[connected] alice"
wait_for n "old message 60"
if tmux -L "$SOCK" capture-pane -e -p -t n | grep -q $'\e\[\(3[0-7]\|38;5\|4[0-7]\|48;5\)'; then
  fail "colours despite NO_COLOR"
fi
check_layout n 200 50 24
save n 08-no-color-200x50
# a message from bob reaches both clients
bob send "$DM" "to both of you" >/dev/null
wait_for n "to both of you"
T=t
wait_for t "to both of you"

# --- bob in a terminal client too: alice sees him typing
tmux -L "$SOCK" -f /dev/null new-session -d -s b -x 80 -y 24 \
  "env HOME=$DIR/bob TERM=screen $PARLEY_TUI 2>$DIR/tui-b.err"
T=b
wait_for b "[connected] bob"
# TERM=screen has 8 colours: the basic palette, no 256-colour codes
tmux -L "$SOCK" capture-pane -e -p -t b | grep -q $'\e\[3[0-7]m\|\e\[4[0-7]m' || fail "no colours on TERM=screen"
if tmux -L "$SOCK" capture-pane -e -p -t b | grep -q $'\e\[38;5;'; then
  fail "256-colour codes on TERM=screen"
fi
keys b M-2
wait_for b "#general"
T=t
keys t M-2
wait_for t "#general"
keys b -l "typing something"
wait_for t "bob is typing…"
keys b Enter
wait_for t "bob: typing something"
wait_gone t "bob is typing…"

# --- Ctrl-Z suspends to the shell, fg restores the screen
tmux -L "$SOCK" -f /dev/null new-session -d -s z -x 80 -y 24 \
  "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=$DIR/alice TERM=tmux-256color PS1='shell$ ' bash --norc --noprofile -i"
T=z
wait_for z 'shell$'
keys z -l "$PARLEY_TUI 2>$DIR/tui-z.err"
keys z Enter
wait_for z "[connected] alice"
keys z C-z
wait_for z "Stopped"
wait_gone z "[connected] alice"
keys z -l "fg"
keys z Enter
wait_for z "[connected] alice"
wait_for z "Rooms"
save z 09-after-fg
type_line z "/quit"
wait_for z 'shell$'
T=t

# --- /quit ends the client (the tmux session closes with it)
type_line t "/quit"
deadline=$((SECONDS + 20))
while tmux -L "$SOCK" has-session -t t 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "/quit did not exit"
  sleep 0.1
done
# A sanitizer build (CI's ASan/UBSan and TSan runs) reports into the
# clients' stderr: any report fails the test.
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:\|WARNING: ThreadSanitizer" \
  "$DIR"/tui-*.err; then
  cat "$DIR"/tui-*.err
  fail "sanitizer report from parley-tui"
fi
echo "tui tests: all scenarios passed"
