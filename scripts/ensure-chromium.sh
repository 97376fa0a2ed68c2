#!/usr/bin/env bash
# Install Debian's chromium for the browser test (Playwright's own browser download does
# not work on these machines). Needs root and the Debian package index; never fails, so
# the test can report what is missing (it skips, or fails when CI is set).
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || true
fi
[ -x /usr/bin/chromium ] || echo "ensure-chromium: /usr/bin/chromium not installed; the browser test will skip (fail when CI is set)" >&2
exit 0
