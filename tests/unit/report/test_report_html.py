"""The HTML report, checked structurally: figures, metadata, escaping, self-containment."""

import re
from html.parser import HTMLParser

import pytest

from layerwise import RunLog
from layerwise.report import Section, write_report
from layerwise.report.interactive import script

HOSTILE_LAYER = "<script>alert(1)</script>"  # a layer of the conftest runs
HOSTILE_RUN = '<img src=x onerror="alert(2)">'
PER_LAYER = ["grad_norm", "update_ratio", "act_mean", "dead_fraction"]


class Report(HTMLParser):
    """Figures (attributes, image sources, captions), every URL-bearing attribute, tags seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.urls: list[str] = []
        self.tags: dict[str, int] = {}
        self.sections: list[str] = []
        self._caption: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "action", "srcset") and v]
        if tag == "figure" and "lw-figure" in attrs.get("class", ""):
            self.figures.append({**attrs, "imgs": [], "caption": ""})
        elif tag == "img" and self.figures:
            self.figures[-1]["imgs"].append(attrs.get("src", ""))
        elif tag == "figcaption" and self.figures:
            self._caption = self.figures[-1]
        elif tag == "section" and "id" in attrs:
            self.sections.append(attrs["id"])

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._caption = None

    def handle_data(self, data):
        if self._caption is not None:
            self._caption["caption"] += data

    def kind(self, kind: str) -> list[dict]:
        return [f for f in self.figures if f["data-kind"] == kind]


@pytest.fixture(scope="module")
def report(two_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "report.html"
    extra = Section(title="Depth profile <notes>", text="plain <b>text</b> & more",
                    html='<table class="lw-table" id="trusted"><tr><td>ok</td></tr></table>')
    path = write_report(two_runs, out, title="Report <title>", names=[HOSTILE_RUN, "fix & co"],
                        sections=[extra])
    html = path.read_text(encoding="utf-8")
    return path, html, Report(html)


def test_one_panel_per_metric_with_embedded_images(report):
    path, html, parsed = report
    assert path.name == "report.html"
    panels = parsed.kind("layers")
    assert [f["data-metric"] for f in panels] == PER_LAYER  # the Monitor's reading order
    charts = re.findall(r'data-lw-chart="(\w+)" data-name="([^"]+)"', html)
    assert charts == [("scalar", "loss"), ("scalar", "val_loss")] + [("layers", m) for m in PER_LAYER]
    for fig in parsed.figures:
        assert fig["id"].startswith("lw-fig-") and fig["caption"].strip()
        assert len(fig["imgs"]) == 1 and fig["imgs"][0].startswith("data:image/png;base64,")
        assert len(fig["imgs"][0]) > 2000
    assert len({f["id"] for f in parsed.figures}) == len(parsed.figures)


def test_comparison_figures_when_two_runs(report):
    _, _, parsed = report
    comparisons = parsed.kind("comparison")
    assert [f["data-metric"] for f in comparisons] == PER_LAYER
    assert "last logged step" in comparisons[0]["caption"] and "fix & co: 29" in comparisons[0]["caption"]


def test_captions_state_scale_and_gaps(report):
    _, _, parsed = report
    by_metric = {f["data-metric"]: f["caption"] for f in parsed.kind("layers")}
    assert "logarithmic colour scale" in by_metric["grad_norm"]  # 6 decades
    assert "symmetric about 0" in by_metric["act_mean"]
    assert "linear colour scale" in by_metric["dead_fraction"]
    assert "2 of 150 cells" in by_metric["update_ratio"]  # the NaN and the inf
    assert "at steps" in by_metric["grad_norm"] and "0, 14, 29" in by_metric["grad_norm"]
    assert "Downsampled" not in by_metric["grad_norm"]


def test_self_contained_no_urls(report):
    _, html, parsed = report
    assert parsed.urls and all(u.startswith(("data:", "#")) for u in parsed.urls)
    code = html.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace names, not fetches
    assert not re.search(r"https?://", code)
    markup = html.replace(script(), "")  # the chart code refers to its own clip paths: url(#...)
    assert "<link" not in markup and "@import" not in markup and "url(" not in markup
    assert "url(" not in script().replace('"url(#"', "")
    assert parsed.tags.get("script") == 3  # chart data (JSON), chart code, figure self-check
    assert '<script type="application/json" id="lw-data">' in html


def test_names_and_text_are_escaped(report):
    _, html, parsed = report
    assert HOSTILE_LAYER not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_RUN not in html and "&lt;img src=x" in html
    assert "Report &lt;title&gt;" in html and "fix &amp; co" in html
    assert "plain &lt;b&gt;text&lt;/b&gt; &amp; more" in html and "&lt;i&gt;cfg&lt;/i&gt;" in html
    assert parsed.tags.get("img") == len(parsed.figures)  # no image smuggled in by a name
    assert parsed.tags.get("b", 0) == 0 and parsed.tags.get("u", 0) == 0
    assert '<table class="lw-table" id="trusted">' in html  # Section.html is trusted


def test_order_and_metadata(report):
    _, html, parsed = report
    assert parsed.sections[:3] == ["lw-section-0", "lw-runs", "lw-curves"]
    assert parsed.sections.index("lw-layers") > parsed.sections.index("lw-curves")
    for text in ("TinyMLP, 1234 parameters (1200 trainable)", "5 layers", "finished", "every 1 steps",
                 "lr = 0.001", "optim.name = adamw", "output is not a ReLU-family activation",
                 "git revision", "torch", "custom_field", "steps 0\u201329"):
        assert text in html, text


def test_verdict_section_in_report(two_runs, tmp_path):
    from layerwise.report import verdict_section

    verdict = verdict_section({"study": "noise", "claim": "noise helps", "metric": "val_loss",
                               "better": "lower",
                               "arms": {"base": {"values": [1.0, 1.1], "mean": 1.05, "ci95": [0.9, 1.2]}},
                               "verdict": "holds"})
    path = write_report(two_runs[:1], tmp_path / "v.html", sections=[verdict], max_metrics=1)
    parsed = Report(path.read_text())
    assert parsed.sections[0] == "lw-section-0"
    assert parsed.kind("section") and len(parsed.kind("layers")) == 1 and not parsed.kind("comparison")
    assert 'data-verdict="holds"' in path.read_text()
    assert "Not drawn (max_metrics): update_ratio, act_mean, dead_fraction." in path.read_text()


def test_profile_steps_and_downsampling(tmp_path, run_writer):
    run = run_writer(tmp_path / "long", steps=450, layers=["a", "b"], broken=False)
    path = write_report([run], tmp_path / "out_dir" / "r.html", profile_steps=[100, 449, 101])
    parsed = Report(path.read_text())
    caption = parsed.kind("layers")[0]["caption"]
    assert "450 steps downsampled, binned by 2 into 225 columns" in caption
    assert "at steps long: 100, 449" in caption


def test_existing_folder_gets_report_html(two_runs, tmp_path):
    assert write_report(two_runs[0], tmp_path, max_metrics=0) == tmp_path / "report.html"


def test_clear_errors(tmp_path, two_runs):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report([tmp_path / "nope"], tmp_path / "r.html")
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(FileNotFoundError, match="not a layerwise run"):
        write_report([tmp_path / "not_a_run"], tmp_path / "r.html")
    RunLog(tmp_path / "empty").close()
    with pytest.raises(ValueError, match="has no records"):
        write_report([tmp_path / "empty"], tmp_path / "r.html")
    with pytest.raises(ValueError, match="one name per run"):
        write_report(two_runs, tmp_path / "r.html", names=["only one"])
    with pytest.raises(ValueError, match="at least one run"):
        write_report([], tmp_path / "r.html")


def test_first_non_finite_value_gets_a_banner(tmp_path):
    import torch
    from torch import nn

    from layerwise import Monitor

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    with Monitor(model, log=tmp_path / "nan-run", on_nonfinite="record") as mon:
        for step in range(4):
            x = torch.randn(6, 4)
            if step == 2:
                x[0, 0] = float("nan")
            with mon.step(step):
                model(x).sum().backward()
    html = write_report([tmp_path / "nan-run"], tmp_path / "r.html").read_text()
    assert 'id="lw-nonfinite"' in html
    assert "nan-run: first non-finite value at step 2, forward pass, layer 0, the output" in html
    assert 'data-metric="nonfinite_forward"' not in html  # told by the banner, not a heatmap
