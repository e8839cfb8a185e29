"""`--source insights` (the default): Logs Insights queries aggregate server-side (`queries`), folded into the same
aggregate as the other engines (`fold`)."""

from monitor.sources.insights.source import InsightsLogSource

__all__ = ["InsightsLogSource"]
