"""Jinja2 templates of the phase log (installed as the package `monitor.templates`; see monitor/report.py)."""
