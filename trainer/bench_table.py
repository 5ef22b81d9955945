"""The bench report's held-out splits as Markdown tables: one per split, stages above reference rows."""
from __future__ import annotations

import math

TABLE_METRICS = ("viou", "chamfer", "f1@0.05", "f1@0.01_dense")
SPLIT_TITLES = {"novel_instances": "Held-out novel instances (new shapes of the training categories)",
                "novel_categories": "Held-out novel categories (no training set contains them)"}


def cell(row: dict, key: str) -> str:
    """'mean +- se' of one metric, '-' where the row lacks it."""
    if key not in row:
        return "-"
    se = row.get(f"{key}_se", float("nan"))
    return f"{row[key]:.3f}" if se is None or math.isnan(se) else f"{row[key]:.3f} +- {se:.3f}"


def split_table(name: str, split: dict) -> str:
    """One split as a Markdown table with its title, the shuffled-image gap and any missing reference row."""
    rows = {**split["stage_table"], **split["stage_table_bounds"]}
    keys = [k for k in TABLE_METRICS if any(k in r for r in rows.values())]
    lines = [f"{SPLIT_TITLES.get(name, name)}: {split['rows']} rows x seeds {split['seeds']}; "
             f"categories {', '.join(split['categories']) or 'unknown'}", "",
             "| | " + " | ".join(keys) + " |", "| --- |" + " --- |" * len(keys)]
    lines += [f"| {row} | " + " | ".join(cell(r, k) for k in keys) + " |" for row, r in rows.items()]
    for name in ("category_mean_shape", "category_random_instance"):
        if name in split:
            lines.append(f"| {name} | {split[name]} |" + " |" * (len(keys) - 1))
    gap, se = split["image_use"]["gap"].get("viou"), split["image_use"]["gap_se"].get("viou")
    if gap is not None:
        lines += ["", f"shuffled-image gap (distill), vIoU: {gap:.3f}" + (f" +- {se:.3f}" if se is not None else "")]
    if "category_use" in split:
        use = split["category_use"]
        gap, se = use["gap"].get("viou"), use["gap_se"].get("viou")
        lines += ["", f"what the category adds (distill, {use['named']} of {use['n']} rows named), vIoU: {gap:.3f}"
                  + (f" +- {se:.3f}" if se is not None else "")]
    return "\n".join(lines)


def split_tables(report: dict) -> str:
    """Every split of a bench report, one table after another."""
    return "\n\n".join(split_table(name, split) for name, split in report.get("splits", {}).items()) + "\n"
