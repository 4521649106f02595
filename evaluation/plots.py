"""Charts for evaluation reports (matplotlib with the Agg backend: no display needed). Each function writes one PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(values: Mapping[str, Mapping[str, float | None]], title: str, path: str | Path,
                 ylabel: str = "rate", percent: bool = True) -> Path:
    """Bars per group (x axis) with one bar per series: `values[series][group]`; None is drawn as a gap."""
    plt = _pyplot()
    series = list(values)
    groups = list(dict.fromkeys(g for s in series for g in values[s]))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 2), 4.2))
    for index, name in enumerate(series):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [values[name].get(group) for group in groups]
        heights = [0 if y is None else (100 * y if percent else y) for y in ys]
        bars = ax.bar(xs, heights, width, label=name)
        for bar, y in zip(bars, ys, strict=True):
            if y is not None:
                label = f"{100 * y:.0f}" if percent else f"{y:.2f}"
                ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 1), textcoords="offset points")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"{ylabel} (%)" if percent else ylabel)
    if percent:
        ax.set_ylim(0, 108)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, plt, path)


def confusion(rows: Sequence[str], cols: Sequence[str], matrix: Sequence[Sequence[int]], title: str,
              path: str | Path) -> Path:
    """A confusion matrix: expected class (rows) against the model's decision (columns), counts in the cells."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 2, 0.7 * len(rows) + 1.8))
    image = ax.imshow(matrix, cmap="Blues", aspect="auto")
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                    color="white" if peak and value > peak / 2 else "black")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.set_xlabel("model's decision")
    ax.set_ylabel("expected")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
