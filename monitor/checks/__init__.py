"""One module per check, each pure: (CheckContext) -> CheckResult. No boto3, psycopg or jinja2 here."""
