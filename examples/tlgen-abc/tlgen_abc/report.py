"""The report sections: key shares and generated tunes with their checks, as data (core renders
them). Everything comes from the data and the stages' results; nothing is read back from disk."""

from __future__ import annotations

from tlgen_abc import notation
from tlgen_abc.metrics import consistent, key_distribution

NOTE = ("a body line is marked ok when every bar between two plain bar lines in it fits M:, "
        "off when one does not, · when it has no such bar; header lines are in italics")


def sections(training: list[str], results: dict, per_stage: int) -> list[dict]:
    """Key shares (training vs each stage) and the first ``per_stage`` tunes of each stage."""
    samples = {stage: result.samples for stage, result in results.items()}
    shown = {stage: tunes[:per_stage] for stage, tunes in samples.items()}
    return [{"title": "Keys of the tunes (share)",
             "table": key_table({"training": training, **samples})},
            {"title": "Generated tunes (header and bar checks)", "table": tune_table(shown),
             "note": NOTE}]


def verdict(tune: str) -> str:
    """One line: is the header complete, how many checked bars fit the meter."""
    parsed = notation.parse(tune)
    _, full, checked = consistent(parsed)
    header = "header X/T/M/K ok" if parsed.has_header else "header incomplete"
    return f"{header}; {full}/{checked} checked bars fit M:{parsed.fields.get('M', '?')}"


def line_label(fields: dict[str, str], line: str) -> str:
    """"" for a header line (shown in italics); for a body line "ok" / "off" by whether its
    checked bars fit the meter, "·" when it has none to check."""
    if notation.FIELD_LINE.match(line.strip()):
        return ""
    full, checked = notation.bar_check(notation.Tune(fields, line))
    return "·" if not checked else "ok" if full == checked else "off"


def annotated(tune: str) -> dict:
    """A tune as an annotated-text cell: the verdict as heading, each line labelled."""
    fields = notation.parse(tune).fields
    return {"heading": verdict(tune),
            "lines": [[line_label(fields, line), line] for line in tune.strip().splitlines()]}


def tune_table(shown: dict[str, list[str]]) -> dict:
    """One row per stage, one annotated cell per tune."""
    width = max(map(len, shown.values()), default=0)
    return {"columns": ["stage", *(f"tune {i + 1}" for i in range(width))],
            "rows": [[stage, *(annotated(t) for t in tunes), *[None] * (width - len(tunes))]
                     for stage, tunes in shown.items()]}


def key_table(groups: dict[str, list[str]]) -> dict:
    """One row per key, its share among each group's tunes."""
    shares = {name: key_distribution(t) for name, t in groups.items()}
    keys = list(dict.fromkeys(k for s in shares.values() for k in s))
    return {"columns": ["key", *shares],
            "rows": [[k, *(round(s.get(k, 0.0), 2) for s in shares.values())] for k in keys]}
