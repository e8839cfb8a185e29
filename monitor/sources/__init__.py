"""Log and metrics sources. boto3 lives only here."""
