#!/usr/bin/env bash
# Fetch the newest supported Prometheus, promtool and Alertmanager (Debian suite `sid`)
# into var/peers/sid/, for the tests that run on both ends of the supported range (the
# oldest end is the machine's own Debian packages).
#
# Nothing is installed and the machine's apt configuration is left alone: apt runs on a
# sources list, package lists, cache and status file of its own under var/peers/apt/,
# `apt-get download` fetches the .deb files (signature-checked against Debian's keyring)
# and `dpkg-deb -x` unpacks them. Debian's builds are dynamically linked against glibc
# (>= 2.34), which bookworm's 2.36 satisfies; each binary is run once to prove it.
#
# Prints exactly one line. Cached: once unpacked, later runs use no network
# (BRIDGE_PEERS_REFRESH=1 fetches again). When the fetch fails (no network) the newest-version
# tests are skipped, and the line says so, unless CI=true or BRIDGE_REQUIRE_PEERS=1: then
# it is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

suite="${BRIDGE_PEERS_SUITE:-sid}"
packages=(prometheus promtool prometheus-alertmanager)
binaries=(prometheus promtool prometheus-alertmanager amtool)
peers="$(realpath -m "${BRIDGE_PEERS_DIR:-var/peers}")"
dest="$peers/$suite"
apt_dir="$peers/apt-$suite"
log="$peers/fetch-$suite.log"

required() { [ "${BRIDGE_REQUIRE_PEERS:-}" = 1 ] || [ "${CI:-}" = true ]; }

give_up() {
  if required; then
    echo "peers: $1 (see $log); required here (CI=true or BRIDGE_REQUIRE_PEERS=1)" >&2
    exit 1
  fi
  echo "peers: $1 (see $log): the tests on the newest Prometheus/Alertmanager are SKIPPED"
  exit 0
}

# The machine's Debian mirror: the URI that serves its own release (deb822 .sources files
# or one-line .list files). Read from its configuration, so no host name lives here.
# (BRIDGE_PEERS_APT_ETC: another /etc/apt, for the script's own tests.)
debian_mirror() {
  local codename etc="${BRIDGE_PEERS_APT_ETC:-/etc/apt}"
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  {
    cat "$etc/sources.list" "$etc"/sources.list.d/*.list 2>/dev/null |
      awk -v c="$codename" '$1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == c) print $i
      }'
    for file in "$etc"/sources.list.d/*.sources; do
      [ -f "$file" ] || continue
      awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" }
        {
          delete f
          for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^#/) continue
            if (line ~ /^[A-Za-z-]+:/) {
              key = tolower(substr(line, 1, index(line, ":") - 1))
              f[key] = substr(line, index(line, ":") + 1)
            } else if (line ~ /^[ \t]/) f[key] = f[key] " " line
          }
          if (tolower(f["enabled"]) ~ /no/ || f["types"] !~ /(^|[ \t])deb([ \t]|$)/) next
          n = split(f["suites"], suites, /[ \t]+/)
          for (j = 1; j <= n; j++) if (suites[j] == c) {
            m = split(f["uris"], uris, /[ \t]+/)
            for (k = 1; k <= m; k++) if (uris[k] != "") { print uris[k]; next }
          }
        }' "$file"
    done
  } | head -n 1
}

runs_here() {
  local root="$1" name
  for name in "${binaries[@]}"; do
    "$root/usr/bin/$name" --version >/dev/null 2>&1 || return 1
  done
}

versions_line() {
  tr '\n' ' ' <"$1/VERSIONS" | sed 's/ $//; s/ \([a-z]\)/, \1/g'
}

mkdir -p "$peers"
exec 9>"$peers/.lock-$suite"
flock 9 # two test runs at once share one download

if [ "${BRIDGE_PEERS_REFRESH:-}" != 1 ] && [ -f "$dest/VERSIONS" ] && runs_here "$dest"; then
  echo "peers: $suite cached in $dest: $(versions_line "$dest")"
  exit 0
fi

: >"$log"
mirror="${BRIDGE_PEERS_MIRROR:-$(debian_mirror)}"
[ -n "$mirror" ] || give_up "no Debian mirror found in /etc/apt/sources.list{,.d} to fetch $suite from"

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" \
  "$apt_dir/preferences.d"
: >"$apt_dir/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
  >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "Dir::Etc::Preferences=$apt_dir/preferences"
  -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Acquire::Retries=2"
  -o "Acquire::http::Timeout=30"
  -o "APT::Update::Error-Mode=any"
)

work="$(mktemp -d "$peers/.fetch-$suite.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/root"
chmod 755 "$work"
# apt downloads as its unprivileged `_apt` user when run as root.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
  chown _apt "$work/debs"
fi

apt-get "${apt_opts[@]}" update >>"$log" 2>&1 ||
  give_up "cannot read Debian $suite's package lists from $mirror (no network?)"
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${packages[@]}") >>"$log" 2>&1 ||
  give_up "cannot download ${packages[*]} from Debian $suite"

for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
  # shellcheck disable=SC2016 # dpkg's own ${Field} syntax, not the shell's
  dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$work/root/VERSIONS"
done
runs_here "$work/root" ||
  give_up "Debian $suite's binaries do not run on this machine (glibc too old?)"

rm -rf "$dest"
mv "$work/root" "$dest"
echo "peers: $suite fetched into $dest: $(versions_line "$dest")"
