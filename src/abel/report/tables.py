"""Markdown tables. Published numbers are always labelled as such, never mixed unlabelled."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# a number, a percentage, a signed delta, an interval "[a, b]", a count "1,319": digits and these marks only
_NUMERIC = re.compile(r"[\d.,%+\-\u2212\[\] ]*\d[\d.,%+\-\u2212\[\] ]*")
_MISSING = {"", "-", "\u2013", "n/a"}


def is_numeric(cell: Any) -> bool:
    """Whether a table cell reads as a number (right-aligned) rather than text (left-aligned)."""
    return _NUMERIC.fullmatch(str(cell).strip()) is not None


def numeric_columns(rows: Sequence[Sequence[Any]], width: int) -> list[bool]:
    """Per column: every filled cell is a number, and at least one cell is filled."""
    out = []
    for j in range(width):
        cells = [str(r[j]).strip() for r in rows if j < len(r) and str(r[j]).strip() not in _MISSING]
        out.append(bool(cells) and all(is_numeric(c) for c in cells))
    return out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table: number columns aligned right, text columns left.

    The alignment is written in the separator row (``|---:|`` / ``|:---|``), so any renderer
    (nbconvert, GitHub, a notebook) aligns the columns the same way without a stylesheet.
    """
    align = numeric_columns(rows, len(header))
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_md = markdown_table


def _pp(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}"


def accuracy_markdown(rows: Sequence[dict[str, Any]], published: dict[str, Any]) -> str:
    pub = published.get("accuracy", {})
    body = []
    for r in rows:
        paper = pub.get(r["benchmark"], {}).get(r["model"])
        ci = f"[{_pp(r['ci_lo'])}, {_pp(r['ci_hi'])}]"
        body.append([r["benchmark"], r["model"].upper(), r["mode"], r["n"], _pp(r["accuracy"]), ci,
                     r["timeouts"], "" if paper is None else f"{paper:.2f}"])
    header = ["benchmark", "model", "scorer", "n", "accuracy (%)", f"{int(rows[0]['ci'] * 100)}% Wilson interval", "timeouts",
              "published (Abel README)"]
    if not pub:  # our own models: nothing published to compare with, so no empty column
        header, body = header[:-1], [b[:-1] for b in body]
    return _md(header, body)


def robustness_markdown(rows: Sequence[dict[str, Any]], published: dict[str, Any]) -> str:
    pub = published.get("robustness_delta", {})
    body = []
    one_pair = len({(r["base"], r["perturbed"]) for r in rows}) == 1
    for r in rows:
        m = r["mcnemar"]
        paper = pub.get(r["model"]) if (r["base"], r["perturbed"]) == ("gsm8k", "gsm8k_robust") else None
        model = r["model"].upper() if one_pair else f"{r['model'].upper()}: {r['perturbed']} vs {r['base']}"
        body.append([model, r["mode"], r["n_paired"], _pp(r["acc_base"]), _pp(r["acc_perturbed"]),
                     f"{100 * r['delta']:+.2f}", f"[{100 * r['delta_lo']:+.2f}, {100 * r['delta_hi']:+.2f}]",
                     f"{m['only_base']} / {m['only_other']}", f"{m['p_value']:.3f}",
                     "" if paper is None else f"{paper:+.2f}"])
    base, other = (rows[0]["base"], rows[0]["perturbed"]) if one_pair else ("original", "perturbed")
    note = ("\nThe published deltas are differences of the rounded accuracies; the delta here is the exact "
            "paired difference over the same questions, so the two can differ in the second decimal.\n")
    return _md(["model", "scorer", "paired questions", f"{base} (%)", f"{other} (%)", "delta (pp)",
                f"{int(rows[0]['ci'] * 100)}% paired bootstrap CI", "only-original / only-perturbed correct",
                "McNemar exact p", "published delta (Abel README)"], body) + note


def tags_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Accuracy per tag combination (one table per benchmark x model x scorer)."""
    out = []
    for key in sorted({(r["benchmark"], r["model"], r["mode"]) for r in rows}):
        part = [r for r in rows if (r["benchmark"], r["model"], r["mode"]) == key]
        keys = part[0]["tags"]
        body = [[*(r[k] for k in keys), r["n"], _pp(r["value"], 1), f"[{_pp(r['lo'], 1)}, {_pp(r['hi'], 1)}]"]
                for r in part]
        out.append(f"**{key[0]}, {key[1]}, {key[2]} scorer**\n\n" + _md([*keys, "n", "accuracy (%)", "Wilson interval"], body))
    return "\n".join(out)


def change_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Robustness split by kind of number change (one row per model x scorer x change)."""
    body = [[r["model"].upper(), r["mode"], r["change"], r["n"], _pp(r["acc_base"]), _pp(r["acc_perturbed"]),
             f"{100 * r['delta']:+.2f}", f"[{100 * r['delta_lo']:+.2f}, {100 * r['delta_hi']:+.2f}]",
             r["broken"], r["fixed"]] for r in rows]
    return _md(["model", "scorer", "how the numbers changed", "pairs", f"{rows[0]['base']} (%)",
                f"{rows[0]['perturbed']} (%)", "delta (pp)", f"{int(rows[0]['ci'] * 100)}% paired bootstrap CI",
                "answers broken", "answers fixed"], body)
