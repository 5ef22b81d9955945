"""Server-side plots of the dashboard (matplotlib, SVG)."""

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt  # noqa: E402


def ratings_svg(history):
    """Return an SVG of Bradley–Terry (Elo-scaled) ratings over time, one panel per player kind."""
    kinds = [k for k in ("generators", "checkpoints") if history.get(k)] or ["generators"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.0), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        series = history.get(kind) or {}
        for player, points in sorted(series.items()):
            times, elos = zip(*points, strict=True)
            ax.plot(times, elos, marker="o", markersize=3, linewidth=1.5, label=player)
        ax.axhline(1500, color="#999", linewidth=0.8, linestyle=":")
        ax.set_title(f"Bradley–Terry rating of {kind} (Elo scale)", fontsize=9)
        ax.set_ylabel("rating", fontsize=8)
        ax.tick_params(labelsize=7)
        if series:
            ax.legend(fontsize=7, loc="best")
            fig.autofmt_xdate()
        else:
            ax.text(0.5, 0.5, "no comparisons yet", ha="center", va="center", transform=ax.transAxes, color="#777")
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    return out.getvalue()
