"""verdict_section: a study's verdict dict as a table (robust to missing keys), and Section."""

from html import unescape
from html.parser import HTMLParser

from matplotlib.figure import Figure

from layerwise.report import Section, verdict_section

VERDICT = {
    "study": "grad-noise", "paper": "Adding Gradient Noise <Improves>", "arxiv": "1511.06807",
    "mode": "smoke",
    "claim": "noise lowers the final loss", "metric": "val_loss", "better": "lower",
    "arms": {"baseline": {"values": [1.25, 1.5, 1.75], "mean": 1.5, "ci95": [1.1, 1.9]},
             "noise": {"values": [1.0, 1.1, float("nan")], "mean": 1.05, "ci95": [0.9, 1.2]}},
    "effect": {"diff": -0.45, "ci95": [-0.8, -0.1], "relative": -0.3},
    "verdict": "holds", "seconds": 12.5,
}


class Cells(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.rows, self._row, self.tags = [], None, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self._row = []
            self.rows.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")

    def handle_data(self, data):
        if self._row:
            self._row[-1] += data


def test_verdict_renders_arms_means_ci_and_word():
    section = verdict_section(VERDICT)
    assert isinstance(section, Section) and section.title == "Verdict: grad-noise"
    rows = Cells(section.html).rows
    arms = {r[0]: r for r in rows if r and r[0] in ("baseline", "noise")}
    assert arms["baseline"][1:4] == ["3", "1.5", "[1.1, 1.9]"]
    assert arms["noise"][2:4] == ["1.05", "[0.9, 1.2]"] and "nan" in arms["noise"][4]
    fields = {r[0]: r[1] for r in rows if len(r) == 2}
    assert fields["claim"] == "noise lowers the final loss" and fields["better"] == "lower"
    assert fields["effect"] == "diff: -0.45; ci95: [-0.8, -0.1]; relative: -0.3"
    assert fields["paper"] == "Adding Gradient Noise <Improves>"  # text, escaped in the HTML
    assert "&lt;Improves&gt;" in section.html
    assert 'class="lw-verdict lw-verdict-holds" data-verdict="holds">holds<' in section.html
    assert len(section.figures) == 1 and isinstance(section.figures[0], Figure)


def test_verdict_with_missing_keys_and_numeric_effect():
    section = verdict_section({"effect": 0.25, "arms": {"a": {"mean": 2.0}}, "extra": "<x>"})
    assert section.title == "Verdict"
    assert "not-judged" in section.html and "0.25" in section.html and "&lt;x&gt;" in section.html
    assert verdict_section({}).figures == ()
    odd = verdict_section({"verdict": "<b>odd</b>", "arms": "nonsense"})
    assert "<b>" not in odd.html and "lw-verdict-bodd" in odd.html


def test_section_keeps_figures_as_tuple():
    assert Section(title="t", figures=[]).figures == ()


def test_new_verdicts_read_as_tables_not_dict_text():
    verdict = {
        **VERDICT, "verdict": "not-judged", "rule": "superiority",
        "reason": "arm 'noise' did not learn: acc 0.1 is not above chance 0.1",
        "effect": {"value": -0.45, "ci": [-0.8, -0.1], "summary": "noise - baseline on val_loss: -0.45"},
        "secondary": [{"rule": "descriptive", "metric": "escape", "verdict": "inconclusive",
                       "summary": "escape in noise: 0.4", "reason": ""}],
        "details": {"val_loss": {"baseline": 1.5, "noise": None},
                    "profile": {"baseline": list(range(12)), "noise": [0.5, 0.25]}},
        "config": {"lr": 0.03}, "provenance": {"git_revision": "abc123", "threads": 1},
    }
    html = verdict_section(verdict).html
    rows = Cells(html).rows
    assert "why: arm 'noise' did not learn" in unescape(html)
    fields = {r[0]: r[1] for r in rows if len(r) == 2}
    assert fields["effect"] == "noise - baseline on val_loss: -0.45"
    assert "details" not in fields and "provenance" not in fields  # folded, not flattened
    assert ["val_loss", "1.5", "NaN"] in rows  # None (a non-finite mean) reads as NaN
    profile = next(r for r in rows if r and r[0] == "profile")
    assert "(12 values)" in profile[1]
    (secondary,) = [r for r in rows if r[:3] == ["descriptive", "escape", "inconclusive"]]
    assert secondary[3].startswith("escape in noise: 0.4")
    assert html.count("<details>") == 3 and "abc123" in html
