"""Extra report content from other components: :class:`Section`."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure


@dataclass(frozen=True)
class Section:
    """A titled block of the report, placed after the title in the order given.

    ``html`` is a trusted fragment produced by layerwise code and inserted as is (never pass user
    text there); ``text`` is plain text and escaped; ``figures`` are matplotlib figures, rendered
    like the report's own.
    """

    title: str
    html: str = ""
    figures: tuple[Figure, ...] = ()
    text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "figures", tuple(self.figures))
