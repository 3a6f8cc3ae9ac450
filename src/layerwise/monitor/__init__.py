"""See: the Monitor (hooks, cadence, reductions) and the RunLog (storage)."""

from layerwise.monitor.monitor import HooksDidNotFire, Monitor, model_summary
from layerwise.monitor.nonfinite import NonFiniteError, NonFiniteEvent
from layerwise.monitor.runlog import RunLog

__all__ = ["HooksDidNotFire", "Monitor", "NonFiniteError", "NonFiniteEvent", "RunLog", "model_summary"]
