"""A run that sends no model request does not import litellm (3-7 s of CPU per process).

Checked in subprocesses: in-process, any earlier test may have imported litellm already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from enrichment_assets.cli import main
from enrichment_assets_tests.stub_llm_server import StubLLMServer, model_like_responder

REPO_ROOT = Path(__file__).resolve().parents[1]
ORG = "demo-tierheim-nord"
# runs the CLI and says on exit whether litellm was imported
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print('LITELLM_IMPORTED=' + str('litellm' in sys.modules)))\n"
         "from enrichment_assets.cli import main\n"
         f"main(['run', '--organization', {ORG!r}])\n")


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_unchanged_rerun_with_a_litellm_model_does_not_import_litellm(enrichment_home: Path) -> None:
    assert CliRunner().invoke(main, ["import", "demo"]).exit_code == 0
    with StubLLMServer(responder=model_like_responder) as server:
        env = {**os.environ, "ENRICHMENT_LLM_MODEL": "openai/stub-model", "ENRICHMENT_LLM_API_BASE": server.api_base,
               "ENRICHMENT_LLM_API_KEY": "sk-test-not-a-real-key-123456"}
        env.pop("ENRICHMENT_LLM_RPM", None)
        first = _run(env)
        sent = len(server.requests)
        rerun = _run(env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert sent > 0 and "LITELLM_IMPORTED=True" in first.stdout, "the first run sends requests through litellm"
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(server.requests) == sent, "nothing new: the rerun sends no request"
    assert "LITELLM_IMPORTED=False" in rerun.stdout, rerun.stdout[-2000:]
