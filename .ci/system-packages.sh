#!/usr/bin/env bash
# System packages the test suite needs (Debian). Called by .ci/run before `make test`.
set -euo pipefail
