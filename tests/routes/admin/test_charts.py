"""The dashboard's SVG bar charts: bars in proportion, stacked or side by side, every text escaped, a
title for screen readers, the numbers as table rows, and an empty chart that says so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from routes.admin.charts import HEIGHT, Chart, Series, bar_chart, rows

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[tuple[float, str]]:
    """Each data bar's height and its title (legend keys have no title)."""
    root = ET.fromstring(svg)
    return [
        (float(rect.get("height", 0)), rect.findtext(f"{SVG}title") or "")
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title") is not None
    ]


def test_stacked_bars_are_in_proportion_and_each_says_its_label_and_value() -> None:
    chart = Chart(
        "Messages per hour",
        ("09:00", "10:00"),
        (Series("email", (3.0, 1.0)), Series("telegram", (2.0, 0.0))),
        stacked=True,
    )
    svg = str(bar_chart(chart))
    found = bars(svg)
    assert [title for _h, title in found] == ["09:00 · email: 3", "09:00 · telegram: 2", "10:00 · email: 1"]
    email, telegram, later = (height for height, _t in found)
    assert abs(email / telegram - 1.5) < 0.01 and abs(email / later - 3) < 0.01
    assert email + telegram <= HEIGHT  # the tallest stack fits the plot
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.findtext(f"{SVG}title") == "Messages per hour"
    assert root.get("aria-labelledby") == root.find(f"{SVG}title").get("id")  # type: ignore[union-attr]


def test_side_by_side_bars_do_not_overlap() -> None:
    chart = Chart("Latency", ("09:00",), (Series("median", (5.0,)), Series("p95", (30.0,))), unit="s")
    root = ET.fromstring(str(bar_chart(chart)))
    median, p95 = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert float(median.get("x", 0)) + float(median.get("width", 0)) <= float(p95.get("x", 0))
    assert p95.findtext(f"{SVG}title") == "09:00 · p95: 30 s"


def test_labels_titles_and_series_names_are_escaped() -> None:
    hostile = '<script>alert(1)</script>"&'
    chart = Chart(hostile, (hostile,), (Series(hostile, (1.0,)),), unit=hostile, empty=hostile)
    for svg in (str(bar_chart(chart)), str(bar_chart(Chart(hostile, (), (), empty=hostile)))):
        assert "<script>" not in svg
        ET.fromstring(svg)  # still well-formed: nothing broke out of its element or attribute
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_an_empty_or_all_zero_chart_draws_no_bars_and_says_so() -> None:
    for chart in (
        Chart("Dead letters", (), (), empty="Nothing waiting."),
        Chart("Dead letters", ("a", "b"), (Series("n", (0.0, None)),), empty="Nothing waiting."),
    ):
        svg = str(bar_chart(chart))
        assert "<rect" not in svg and re.search(r"<text[^>]*>Nothing waiting\.</text>", svg)


def test_the_numbers_are_table_rows_with_the_extra_series_after_the_drawn_ones() -> None:
    chart = Chart(
        "CSAT",
        ("2026-12-06", "2026-12-07"),
        (Series("average", (None, 4.5)),),
        extra=(Series("ratings", (0.0, 2.0)),),
    )
    assert rows(chart) == [("2026-12-06", ["", "0"]), ("2026-12-07", ["4.50", "2"])]
