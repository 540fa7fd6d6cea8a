#!/usr/bin/env bash
# System packages the test suite needs (Debian). Called by .ci/run before `make test`.
#   dicom3tools: dciodvfy validates every exported DICOM file
#   orthanc:     a PACS the DICOM send test starts on loopback (its own config, never the service)
# Quick and idempotent: apt runs only when a tool is missing.
set -euo pipefail

missing=()
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || missing+=(orthanc)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # a temporary policy-rc.d keeps the package from starting its own Orthanc service
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$own_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
