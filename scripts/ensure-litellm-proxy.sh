#!/usr/bin/env bash
# Install the LiteLLM proxy (`litellm --config`) in its own virtualenv, .venv-proxy, for the
# proxy integration test and for running the proxy locally. A separate venv because
# `litellm[proxy]` pulls about 45 packages into the project's (it downgrades rich to 13.9.4
# and adds psycopg 3). Same litellm version as the project's .venv (pip's cache makes a
# reinstall fast). Never fails: without the proxy its test skips (fails when CI is set).
set -u
cd "$(dirname "$0")/.."
VENV=${PROXY_VENV:-.venv-proxy}
PROJECT_PY=${PROJECT_PY:-.venv/bin/python}
PYTHON=${PYTHON:-python3}
version=$("$PROJECT_PY" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)
if [ -z "$version" ]; then
  echo "ensure-litellm-proxy: no litellm in $PROJECT_PY (run make install); the proxy test will skip (fail when CI is set)" >&2
  exit 0
fi
stamp="$VENV/.installed-litellm-$version"
[ -f "$stamp" ] && [ -x "$VENV/bin/litellm" ] && exit 0
if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 \
  && "$VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$version" >"$VENV.log" 2>&1; then
  rm -f "$VENV"/.installed-litellm-*
  touch "$stamp"
  rm -f "$VENV.log"
  exit 0
fi
echo "ensure-litellm-proxy: could not install litellm[proxy]==$version in $VENV (see $VENV.log); the proxy test will skip (fail when CI is set)" >&2
exit 0
