"""One module per command, each with `run(args, settings, say) -> exit code`. `monitor.cli.main` imports the one
the command line names, so a command pays only for what it uses (`history` never imports the checks, the log
engines or Jinja2)."""

__all__ = ["checkpoint", "db", "demo", "gate", "history", "report", "rollout"]
