"""beta-monitor: the watchdog that guards progressive feature-flag rollouts."""

__version__ = "0.1.0"
