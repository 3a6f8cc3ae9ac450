"""The committed registry index (``layerwise ls`` without torch) matches the live registry."""

import subprocess
import sys

from layerwise._index import build_index, load_index


def test_index_is_current():
    assert load_index() == build_index(), (
        "src/layerwise/_index.json is stale: run `python -m layerwise._index` and commit it")


def test_ls_answers_without_importing_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom layerwise.cli import app\n"
            "r = CliRunner().invoke(app, ['ls', '--kind', 'study', '--json'])\n"
            "assert r.exit_code == 0, r.output\nimport json\nprint(len(json.loads(r.output)))\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    studies = sum(e["kind"] == "study" for e in load_index())
    assert studies >= 22 and out.stdout.split() == [str(studies), "False"]


def test_ls_suggests_a_contains_pattern():
    from typer.testing import CliRunner

    from layerwise.cli import app

    result = CliRunner().invoke(app, ["ls", "noise"])
    assert result.exit_code == 0 and "names containing it" in result.output and "grad_noise" in result.output
