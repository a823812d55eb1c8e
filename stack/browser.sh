#!/usr/bin/env bash
# The browser of the console tests: Debian's chromium and chromium-driver, installed when missing.
#   stack/browser.sh install   install them (apt-get) unless both are on PATH
#   stack/browser.sh status    exit 0 when both are there
set -euo pipefail
# shellcheck source=stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

have_browser() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

case "${1:-install}" in
    install)
        have_browser || apt_install browser chromium chromium-driver
        have_browser || die "chromium/chromedriver still missing after apt-get install"
        say "browser: $(chromium --version 2>/dev/null | head -n1)"
        ;;
    status) have_browser ;;
    *) die "usage: stack/browser.sh install|status" ;;
esac
