# TAP helpers for guest scripts, sourced as /berth/tap.sh (run-vm.sh puts it in every guest).
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else no "$1: expected [$2], got [$3]"; fi; }
# eventually DESC WANT CMD: CMD's output becomes WANT within $EVENTUALLY_S seconds (180; qemu
# under TCG is slow, and a fixed sleep would be a timed assertion). A miss calls the guest's
# eventually_missed, when it defines one (to stop where later checks depend on this one).
eventually() {
  local end got
  end=$(($(cut -d. -f1 /proc/uptime) + ${EVENTUALLY_S:-180}))
  while :; do
    got=$(eval "$3" 2>/dev/null)
    [ "$got" = "$2" ] && break
    [ "$(cut -d. -f1 /proc/uptime)" -lt $end ] || break
    sleep 0.2
  done
  eq "$1" "$2" "$got"
  if [ "$got" != "$2" ] && command -v eventually_missed >/dev/null 2>&1; then
    eventually_missed
  fi
}
