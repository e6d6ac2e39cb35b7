#!/usr/bin/env bash
# Checks the README's promise that the two commands set everything up on a fresh Debian 12:
# builds a minimal Debian 12 root with debootstrap, copies this checkout (its tracked files)
# and ../shared into it, and runs scripts/demo.sh, then scripts/test.sh, inside it (chroot,
# as root), printing what each installed and whether both passed. Not part of CI: it takes
# a while and downloads a base system.
# usage: sudo scripts/fresh-machine.sh [ROOT]   (ROOT defaults to /tmp/kiln-fresh; it is
# made anew each run). KILN_FUZZ_SECONDS (default 10) goes to test.sh; KILN_MIRROR picks the
# Debian archive (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(realpath -m "${1:-/tmp/kiln-fresh}")"
mirror="${KILN_MIRROR:-http://deb.debian.org/debian}"
shared="$(realpath -m "${KILN_SHARED:-../shared}")"
[[ $(id -u) -eq 0 ]] || { echo "fresh-machine: run as root (debootstrap and chroot need it)" >&2; exit 1; }
[[ -d "$shared/models" ]] || { echo "fresh-machine: no shared test data at $shared" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

unmount() {
  for m in dev/pts dev proc sys; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  return 0
}
trap unmount EXIT
unmount
rm -rf "$root"
echo "fresh-machine: debootstrap bookworm (minbase) into $root from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log" >&2; exit 1; }
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc sys dev dev/pts; do mkdir -p "$root/$m"; mount --bind "/$m" "$root/$m"; done

# The checkout as a clone would have it (tracked files only, no build folders) and the test data beside it.
mkdir -p "$root/work/kiln" "$root/work/shared"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$root/work/kiln"
cp -a "$shared/." "$root/work/shared/"

in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
packages() { in_root dpkg-query -W -f='${Package}\n' | sort; }

status=0
step() {  # step NAME COMMAND...: runs it in the root, then lists the packages it installed
  local name="$1" before after rc=0
  shift
  before="$(packages)"
  echo "fresh-machine: $name" >&2
  in_root /bin/bash -c "cd /work/kiln && $*" > "$root.$name.out" 2> "$root.$name.err" || rc=$?
  after="$(packages)"
  local added
  added="$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')"
  echo "fresh-machine: $name installed $(echo "$added" | wc -w) packages: $added" >&2
  if (( rc == 0 )); then
    echo "fresh-machine: $name passed" >&2
  else
    echo "fresh-machine: $name FAILED (exit $rc); the end of its stderr:" >&2
    tail -30 "$root.$name.err" >&2
    status=1
  fi
}

step demo scripts/demo.sh
echo "fresh-machine: demo printed: $(head -c 300 "$root.demo.out" | tr '\n' ' ')" >&2
[[ -s "$root.demo.out" ]] || { echo "fresh-machine: demo printed nothing" >&2; status=1; }
step test "KILN_FUZZ_SECONDS=${KILN_FUZZ_SECONDS:-10} scripts/test.sh"
grep -E "tests passed|tests failed" "$root.test.out" | sed 's/^/fresh-machine: test: /' >&2 || true
if (( status == 0 )); then
  echo "fresh-machine: both commands passed on a fresh Debian 12 ($(date -u +%F))" >&2
else
  echo "fresh-machine: FAILED; logs in $root.*.out and $root.*.err" >&2
fi
exit $status
