#!/usr/bin/env bash
# Install the Debian packages the project needs (the machines run as root).
set -euo pipefail
need=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || need+=(libusb-1.0-0)   # open3d links against it
dpkg -s libgl1 >/dev/null 2>&1 || need+=(libgl1)               # vtk (pyvista) and open3d
dpkg -s libgomp1 >/dev/null 2>&1 || need+=(libgomp1)
command -v chromium >/dev/null 2>&1 || need+=(chromium)         # browser tests (never a downloaded browser)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)            # three.js from the npm registry
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "Missing Debian packages: ${need[*]} (run as root or install them: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
