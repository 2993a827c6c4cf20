#!/usr/bin/env bash
# A software Vulkan driver for the webgpu tests (run as root, Debian 12): Mesa 25's lavapipe
# from bookworm-backports. Debian 12's own Mesa 22 lavapipe is refused by Dawn. Idempotent:
# a lavapipe already installed is kept. On any failure the webgpu tests skip and say why.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "vulkan.sh: must run as root (it adds an apt source and installs packages)" >&2; exit 1; }

if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q bpo12; then
  echo "vulkan: lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  exit 0
fi
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || { echo "vulkan.sh: expects Debian 12 (bookworm), found ${PRETTY_NAME:-unknown}" >&2; exit 1; }

# Reuse the host the existing Debian source uses (a mirror or proxy may stand in for deb.debian.org).
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/\{0,1\} bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
echo "deb $mirror bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "vulkan: installed lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
