# shellcheck shell=bash
# scripts/apt_lib.sh — the one way offerd's scripts and tests get a Debian
# package they need (sourced by path). As root it runs apt-get; otherwise it
# prints the exact line to run as root and fails, so nothing is installed
# behind a user's back.
#
#   apt_missing PKG...       the PKG dpkg does not have installed, one a line
#   apt_install WHO PKG...   installs PKG (apt-get update, then install without
#                            recommends, quietly), saying so on stderr as WHO;
#                            not root: prints the line and returns 1
#   apt_need WHO PKG...      apt_install of the PKG not installed yet

apt_missing() {
  local p
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || echo "$p"
  done
}

apt_install() {
  local who=$1
  shift
  if [[ $(id -u) -ne 0 ]]; then
    echo "$who needs these Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends $*" >&2
    return 1
  fi
  echo "$who: installing $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

apt_need() {
  local who=$1 missing
  shift
  mapfile -t missing < <(apt_missing "$@")
  ((${#missing[@]} == 0)) || apt_install "$who" "${missing[@]}"
}
