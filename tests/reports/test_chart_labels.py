"""Chart labels are never cut silently: two lines, then an ellipsis, the whole in a tooltip."""

from engine.reports.charts import label_lines


def test_short_labels_stay_on_one_line():
    assert label_lines("IB-1 / Alice Partner") == ["IB-1 / Alice Partner"]


def test_long_labels_wrap_on_two_lines_at_word_boundaries():
    name = "Introducing broker Northern Europe / Very Long Partner Company Name"
    lines = label_lines(name)
    assert len(lines) == 2 and all(len(line) <= 32 for line in lines)
    assert lines[0] == "Introducing broker Northern" and lines[1].endswith("…")


def test_a_single_long_word_is_cut_with_an_ellipsis():
    assert label_lines("x" * 50) == ["x" * 31 + "…"]
