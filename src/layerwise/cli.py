"""Command line: ``layerwise ls | run | show | claims | report | doctor | analyze | demo``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

app = typer.Typer(help="layerwise: see, fix and prove how a deep network trains, layer by layer.",
                  no_args_is_help=True, add_completion=False)
console = Console(markup=False, highlight=False)  # paths and names print literally: exp[lr]/run1


def _error(err: object) -> None:
    message = err.args[0] if isinstance(err, KeyError) and err.args else err  # no KeyError quotes
    console.print(Text("error: ", style="red") + Text(str(message)))


@app.command("ls")
def ls(pattern: str = typer.Argument("*", help="glob over names, e.g. '*norm*'"),
       kind: str = typer.Option(None, help="only this kind: metric, study, model, dataset, ..."),
       as_json: bool = typer.Option(False, "--json", help="machine-readable list")) -> None:
    """List registered methods, metrics, models, datasets and studies with their papers."""
    from layerwise._index import query

    try:
        entries = query(pattern, kind=kind)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    if not entries and not any(c in pattern for c in "*?["):
        loose = query(f"*{pattern}*", kind=kind)
        if loose:
            console.print(f"no name is exactly {pattern!r}; names containing it (pattern '*{pattern}*'):")
            entries = loose
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    table = Table("name", "kind", "paper", "arXiv", "summary", show_lines=False)
    for e in entries:
        table.add_row(e["name"], e["kind"], e["paper"], e["arxiv"] or "", e["summary"])
    console.print(table)


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}")
        out[key] = value
    return out


@app.command("run", context_settings={"allow_extra_args": False})
def run(name: str = typer.Argument(..., help="study name (see `layerwise ls --kind study`)"),
        overrides: list[str] = typer.Argument(None, help="config overrides key=value"),
        size: str = typer.Option("smoke", help="tiny | smoke | full (the registered size)"),
        full: bool = typer.Option(False, "--full", help="shorthand for --size full"),
        seeds: int = typer.Option(None, help="number of seeds (default: the study's for the size)"),
        threads: int = typer.Option(1, help="torch threads (default 1: studies are judged that way)"),
        out: Path = typer.Option(None, help="output folder (default runs/NAME)"),
        resume: bool = typer.Option(False, "--resume",
                                    help="keep arms and seeds that finished with the same config"),
        overwrite: bool = typer.Option(False, "--overwrite",
                                       help="replace the results already in --out")) -> None:
    """Run a study: every arm over the seeds, a report and DIR/verdict.json."""
    from layerwise.studies import get_study, run_study, study_folder

    try:
        settings = _parse_overrides(overrides or [])
        study = get_study(name)
        size = "full" if full else size
        study.config(size, settings)  # validate the size and the overrides before any training
    except (KeyError, ValueError) as err:
        _error(err)
        raise typer.Exit(2) from None
    folder = study_folder(study, out)
    try:
        verdict = run_study(study, size=size, seeds=seeds, out=out, overrides=settings,
                            threads=threads, resume=resume, overwrite=overwrite)
    except (FileExistsError, RuntimeError) as err:  # a folder with results, or in use
        _error(err)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print(f"interrupted: the finished arms and seeds are in {folder}/runs; "
                      f"`layerwise run {name} ... --out {folder} --resume` continues where it stopped")
        raise typer.Exit(130) from None
    _print_verdict(verdict.to_json())
    console.print(f"verdict: {folder / 'verdict.json'}   report: {folder / 'report.html'}")


def _print_verdict(verdict: dict) -> None:
    table = Table("arm", verdict["metric"], "95% CI", "values", "diverged")
    for arm, a in verdict["arms"].items():
        lo, hi = (_num(v) for v in a["ci95"])
        values = ", ".join(f"{_num(v):.4f}" for v in a["values"])
        table.add_row(arm, f"{_num(a['mean']):.4f}", f"[{lo:.4f}, {hi:.4f}]", values, str(a["n_diverged"]))
    console.print(table)
    console.print(verdict["effect"]["summary"])
    line = Text("verdict: ") + Text(verdict["verdict"], style="bold") + Text(
        f" ({verdict['mode']}, {verdict['seconds']} s)")
    console.print(line)
    if verdict["reason"]:
        console.print(f"reason: {verdict['reason']}")


def _num(value: object) -> float:
    return float("nan") if value is None else float(value)


@app.command("show")
def show(name: str = typer.Argument(..., help="study name (see `layerwise ls --kind study`)")) -> None:
    """A study's claim, rule, gates, arms (config deltas), sizes, seeds and every setting with its
    registered full-size value: what `run` accepts as key=value."""
    import dataclasses

    from layerwise.studies import get_study

    try:
        study = get_study(name)
    except KeyError as err:
        _error(err)
        raise typer.Exit(2) from None
    console.print(f"{study.name}: {study.paper} (arXiv {study.arxiv})")
    console.print(f"claim: {study.claim}")
    console.print(f"rule: {study.rule}")
    for gate in study.gates:
        console.print(f"gate: {gate}")
    console.print(f"seeds: {dict(study.seeds)}")
    table = Table("setting", "full", *study.sizes, *(f"arm {a}" for a in study.arms))
    for f in dataclasses.fields(study.Config):
        row = [repr(getattr(study.config("full"), f.name))]
        row += [repr(d[f.name]) if f.name in d else "" for d in study.sizes.values()]
        row += [repr(d[f.name]) if f.name in d else "" for d in study.arms.values()]
        table.add_row(f.name, *row)
    console.print(table)


@app.command("claims")
def claims(results: Path = typer.Option(Path("results"), help="folder of committed study results"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable rows"),
           write: bool = typer.Option(False, "--write", help="also write RESULTS/CLAIMS.md")) -> None:
    """The claims table: every study's full-size verdict from RESULTS/<study>/verdict.json."""
    from layerwise.studies import claim_rows, write_claims

    rows = claim_rows(results)
    if write:
        console.print(f"wrote {write_claims(results)}")
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("study", "verdict", "effect [95% CI]", "seeds", "min", "why / summary")
    for r in rows:
        ci = r.get("ci") or []
        effect = "" if r.get("effect") is None else f"{r['effect']:.4g}"
        if len(ci) == 2 and None not in ci:
            effect += f" [{ci[0]:.4g}, {ci[1]:.4g}]"
        note = ("STALE: " + "; ".join(r["stale"]) + ". ") if r.get("stale") else ""
        table.add_row(r["study"], r["verdict"], effect, str(r.get("seeds", "")),
                      str(r.get("minutes", "")), note + (r.get("reason") or r.get("summary", "")))
    console.print(table)


@app.command("report")
def report(runs: list[Path] = typer.Argument(..., help="run folders written by a Monitor/RunLog"),
           output: Path = typer.Option(Path("report.html"), "-o", "--output", help="HTML file to write"),
           title: str = typer.Option("layerwise report", help="page title"),
           name: list[str] = typer.Option(None, "--name",
                                          help="a label per run, in order (default: folder names)")) -> None:
    """Write one self-contained HTML report (interactive curves and per-layer charts, heatmaps,
    profiles) for one or more runs; a study folder is read as its run folders."""
    from layerwise.report import write_report

    try:
        runs = _expand_study_folders(runs)
        path = write_report(runs, output, title=title, names=name or None)
    except (FileNotFoundError, ValueError) as err:
        _error(err)
        raise typer.Exit(2) from None
    console.print(f"wrote {path}")


def _expand_study_folders(runs: list[Path]) -> list[Path]:
    """A study folder (``DIR/runs/*`` beside ``verdict.json``) stands for its run folders."""
    out: list[Path] = []
    for path in runs:
        inner = sorted(p for p in (path / "runs").glob("*") if (p / "metrics").is_dir())
        out += inner if not (path / "metrics").is_dir() and inner else [path]
    return out


export_app = typer.Typer(help="Export a run to another tool's format.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("tensorboard")
def export_tensorboard(run_dir: Path = typer.Argument(..., help="a run folder written by a Monitor/RunLog"),
                       output: Path = typer.Option(None, "-o", "--output",
                                                   help="event folder (RUN_DIR/tensorboard)")) -> None:
    """Write the run's rows as TensorBoard scalars (metric/layer tags, steps, wall clock)."""
    from layerwise.integrations.tensorboard import export_tensorboard as export

    try:
        path = export(run_dir, output)
    except (FileNotFoundError, ImportError) as err:
        _error(err)
        raise typer.Exit(2) from None
    console.print(f"wrote {path}   (tensorboard --logdir {path})")


@app.command("doctor")
def doctor(run_dir: Path = typer.Argument(..., help="a run folder written by a Monitor/RunLog"),
           out: Path = typer.Option(None, "-o", "--out",
                                    help="where to write diagnosis.json (default RUN_DIR/diagnosis.json)"),
           as_json: bool = typer.Option(False, "--json", help="print the diagnosis as JSON"),
           report: Path = typer.Option(None, help="also write an HTML report with the evidence plotted"),
           verify: bool = typer.Option(False, "--verify", help="re-run with the top prescriptions"),
           recipe: str = typer.Option(None, help="'module:function' of the seed that rebuilds the run "
                                      "(default: the run's meta.json 'recipe')"),
           seeds: int = typer.Option(3, help="paired re-runs per prescription (seeds 0..N-1)"),
           top_k: int = typer.Option(2, "--top-k", help="prescriptions to verify"),
           restart: str = typer.Option("scratch", help="treated re-runs start from 'scratch' or from each "
                                       "seed's last 'checkpoint' before the onset"),
           checkpoint_every: int = typer.Option(10, help="with --restart checkpoint: steps between the "
                                                "baseline re-runs' checkpoints"),
           verify_out: Path = typer.Option(None, help="re-runs go here (RUN_DIR-verify)")) -> None:
    """Name what is wrong in a run, where and since when, and which remedies to try; --verify
    re-runs the recipe with each top prescription, paired by seed, and says whether it helped."""
    from layerwise.doctor import diagnose, write_diagnosis

    try:
        result = diagnose(run_dir)
    except (FileNotFoundError, ValueError) as err:
        _error(err)
        raise typer.Exit(2) from None
    path = write_diagnosis(result, out if out is not None else run_dir)
    if as_json:
        console.print(json.dumps(result.as_dict(), indent=1, default=str))
    else:
        console.print(result.text(), soft_wrap=True)
        console.print(f"wrote {path}", soft_wrap=True)
    checked = _verify(run_dir, result, recipe, seeds, top_k, verify_out,
                      {"restart": restart, "checkpoint_every": checkpoint_every}) if verify else None
    if report is not None:
        from layerwise.doctor import diagnosis_section, load
        from layerwise.doctor._report import verification_section
        from layerwise.report import write_report

        sections = [diagnosis_section(result, load(run_dir))]
        sections += [verification_section(checked)] if checked is not None else []
        written = write_report([run_dir], report, title=f"layerwise doctor: {run_dir.name}",
                               sections=sections)
        console.print(f"wrote {written}", soft_wrap=True)


def _verify(run_dir: Path, diagnosis, recipe: str | None, seeds: int, top_k: int, out: Path | None,
            restarting: dict):
    from layerwise.doctor import verify
    from layerwise.monitor.runlog import RunLog

    target = recipe or RunLog.read_meta(run_dir).get("recipe")
    if not target:
        _error(ValueError(f"{run_dir} does not say how to rebuild it: pass --recipe module:function "
                          "(a function of the seed returning layerwise.doctor.Setup), or log it with "
                          "Monitor(meta={'recipe': 'module:function'})"))
        raise typer.Exit(2)
    folder = out or run_dir.with_name(run_dir.name + "-verify")
    try:
        result = verify(target, diagnosis, seeds=range(seeds), top_k=top_k, out=folder,
                        progress=lambda text: console.print(f"  re-run: {text}"), **restarting)
    except ValueError as err:
        _error(err)
        raise typer.Exit(2) from None
    console.print(result.text(), soft_wrap=True)
    console.print(f"wrote {folder / 'verification.json'}", soft_wrap=True)
    return result


@app.command("analyze")
def analyze(model: str = typer.Argument(..., help="gpt | minilm | smollm2 | a torch.save(model) file"),
            data: str = typer.Option("pydoc", help="text: stdlib | pydoc | a path"),
            output: Path = typer.Option(Path("report.html"), "-o", "--output", help="HTML file to write"),
            n_seq: int = typer.Option(8, help="sequences in the batch"),
            seq_len: int = typer.Option(128, help="tokens per sequence"),
            skip: bool = typer.Option(True, help="compute the skip matrix (one forward per layer)")) -> None:
    """Depth diagnostics of a model on a batch, without training: contribution per layer, logit
    lens, attention entropy, inflection band, skip matrix; writes a report and a run log."""
    from layerwise.depth.cli import analyze as run_analysis

    try:
        start = time.perf_counter()

        def stage(text: str) -> None:
            console.print(f"[{time.perf_counter() - start:6.1f} s] {text}")

        path = run_analysis(model, data, output, n_seq=n_seq, seq_len=seq_len, skip=skip, progress=stage)
    except (FileNotFoundError, ValueError, ImportError) as err:
        _error(err)
        raise typer.Exit(2) from None
    console.print(f"wrote {path}")


@app.command("demo")
def demo(out: Path = typer.Option(Path("runs/demo"), help="output folder"),
         steps: int = typer.Option(None, help="training steps per arm (default: the smoke size)")) -> None:
    """The main job: curse-of-depth (Pre-LN vs LayerNorm Scaling, 12-layer GPT) on stdlib text."""
    from layerwise.demo import print_summary
    from layerwise.studies import run_study

    overrides = {"steps": steps} if steps else {}
    verdict = run_study("curse-of-depth", out=out, overrides=overrides, threads=1, overwrite=True)
    print_summary(verdict.to_json(), out, console)


def _version(value: bool) -> None:
    if value:
        from layerwise import __version__

        typer.echo(f"layerwise {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and exit")) -> None:
    """layerwise: see, fix and prove how a deep network trains, layer by layer."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
