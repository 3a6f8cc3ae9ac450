"""The command line: help, ls (table and JSON), run argument errors, report."""

import json

from typer.testing import CliRunner

from layerwise.cli import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ls", "run", "report", "demo"):
        assert command in result.output


def test_ls_json_lists_studies_with_papers_and_metrics():
    result = runner.invoke(app, ["ls", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.output)}
    study = entries["curse-of-depth"]
    assert study["kind"] == "study" and study["arxiv"] == "2502.05795"
    assert entries["grad_norm"]["kind"] == "metric"
    assert {"gpt", "mlp", "digits", "text_corpus"} <= set(entries)


def test_ls_filters_and_table():
    result = runner.invoke(app, ["ls", "act_*", "--kind", "metric"])
    assert result.exit_code == 0 and "act_rms" in result.output and "gpt" not in result.output
    bad = runner.invoke(app, ["ls", "--kind", "gadget"])
    assert bad.exit_code != 0 and "unknown kind" in bad.output


def test_run_reports_bad_names_and_settings():
    result = runner.invoke(app, ["run", "curse-of-dept"])
    assert result.exit_code == 2 and "did you mean curse-of-depth" in " ".join(result.output.split())
    result = runner.invoke(app, ["run", "curse-of-depth", "stepz=3"])
    assert result.exit_code == 2 and "unknown setting 'stepz'" in result.output
    result = runner.invoke(app, ["run", "curse-of-depth", "steps"])
    assert result.exit_code != 0 and "key=value" in result.output


def test_report_command_writes_html(tmp_path):
    from layerwise import RunLog

    with RunLog(tmp_path / "run") as log:
        for step in range(3):
            log.log_many(step, ["blocks.0", "blocks.1"], ["grad_norm"] * 2, [1.0, 0.5])
            log.log_scalars(step, loss=2.0 - step * 0.1)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(tmp_path / "run"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().lower().startswith("<!doctype html")
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope" in missing.output


def test_analyze_writes_a_depth_report(tmp_path):
    out = tmp_path / "depth.html"
    result = runner.invoke(app, ["analyze", "gpt", "-o", str(out), "--n-seq", "2", "--seq-len", "16"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "blocks.11" in html and "lw-figure" in html and "Layer similarity (linear CKA)" in html
    assert "s] loading gpt" in result.output and "s] skip matrix (12 forward passes)" in result.output
    again = runner.invoke(app, ["analyze", "gpt", "-o", str(out), "--n-seq", "2", "--seq-len", "16"])
    assert again.exit_code == 0, again.output  # a second analysis replaces the first
    bad = runner.invoke(app, ["analyze", str(tmp_path / "missing.pt"), "-o", str(out)])
    assert bad.exit_code == 2 and "missing.pt" in " ".join(bad.output.split())
    no_data = runner.invoke(app, ["analyze", "gpt", "--data", str(tmp_path / "nosuch.txt")])
    assert no_data.exit_code == 2 and "nosuch.txt" in no_data.output and "loading" not in no_data.output


def test_user_strings_print_literally(tmp_path):
    """Paths with square brackets are not eaten as markup, and markup-like text cannot crash."""
    missing = tmp_path / "exp[lr]" / "run1"
    result = runner.invoke(app, ["report", str(missing)])
    assert result.exit_code == 2 and "exp[lr]/run1" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "[/bold]")])
    assert result.exit_code == 2 and "[/bold]" in result.output


def test_out_of_range_study_settings_are_refused(tmp_path):
    result = runner.invoke(app, ["run", "curse-of-depth", "steps=0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "steps=0 is out of range" in result.output
    assert not (tmp_path / "o").exists()


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom typer.testing import CliRunner\nfrom layerwise.cli import app\n"
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['run', '--help']); assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_top_level_names_load_lazily():
    import layerwise

    assert layerwise.Monitor.__name__ == "Monitor" and "select_layers" in dir(layerwise)
    try:
        layerwise.nothing_here  # noqa: B018
    except AttributeError as err:
        assert "nothing_here" in str(err)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")


def test_report_takes_run_labels_and_study_folders(tmp_path):
    from layerwise import RunLog

    for sub in ("a/runs/base-s0", "a/runs/fix-s0"):
        with RunLog(tmp_path / sub) as log:
            log.log_many(0, ["blocks.0"], ["grad_norm"], [1.0])
            log.log_scalars(0, loss=1.0)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(tmp_path / "a"), "-o", str(out), "--name", "baseline",
                                 "--name", "remedy"])
    assert result.exit_code == 0, result.output
    assert "2 runs: baseline, remedy" in out.read_text()
    bad = runner.invoke(app, ["report", str(tmp_path / "a"), "--name", "only-one"])
    assert bad.exit_code == 2 and "one name per run" in bad.output


def test_version_show_and_clean_key_errors():
    assert runner.invoke(app, ["--version"]).output.startswith("layerwise ")
    shown = runner.invoke(app, ["show", "curse-of-depth"])
    assert shown.exit_code == 0 and "superiority" in shown.output.lower() and "n_layer" in shown.output
    missing = runner.invoke(app, ["show", "curse-of-dept"])
    assert missing.exit_code == 2 and "error: no study" in missing.output
