"""The doctor's AWS probes: every call the job makes, made once with a harmless request, so a missing permission,
log group, bucket or topic is found before the hourly job meets it.

- sts:GetCallerIdentity (needs no permission): who the job runs as, and the account for the ARNs below;
- logs:DescribeLogGroups (the log group exists), logs:FilterLogEvents (limit 1), logs:StartQuery + GetQueryResults
  + StopQuery on a one-row query (when the job reads with Insights);
- the phase log: s3:GetObject and a conditional s3:PutObject of a probe object beside the phase logs (the task role
  has no s3:DeleteObject, so the probe object stays and each run overwrites it), or a local directory written to;
- sns:Publish of a test message (the role grants nothing else on the topic: GetTopicAttributes is not allowed);
- cloudwatch:PutMetricData (only when publishing is on; a `DoctorProbe` metric no alarm watches) and
  cloudwatch:GetMetricData (only with a load balancer configured).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.aws import AWS_FAILURES
from monitor.doctor.report import DENIED, FAIL, PASS, SKIP, DoctorReport, aws_code, aws_failure
from monitor.settings import Settings

PROBE_QUERY = "fields @timestamp | limit 1"
PROBE_OBJECT = ".beta-monitor-doctor"
PROBE_METRIC = "DoctorProbe"
QUERY_WAIT_S = 60.0
_TERMINAL = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
_MISSING_OBJECT = frozenset({"NoSuchKey", "404", "NotFound"})
_S3_RACE = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class AwsProbes:
    """The AWS probes of one doctor run, writing into `report`. `client(service)` builds a boto3 client."""

    def __init__(
        self,
        settings: Settings,
        report: DoctorReport,
        client: Callable[[str], Any],
        *,
        now: datetime,
        minutes: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.report = report
        self.client = client
        self.now = now
        self.minutes = minutes
        self.sleep = sleep
        self.account: str | None = None
        self.partition = "aws"
        self.region = settings.aws_region or "the configured region"

    # -- who -------------------------------------------------------------------------------------------------------
    def identity(self) -> bool:
        try:
            sts = self.client("sts")
            self.region = str(getattr(sts.meta, "region_name", None) or self.region)
            found = sts.get_caller_identity()
        except AWS_FAILURES as exc:
            self.report.add("aws identity", FAIL, aws_failure(exc, "sts:GetCallerIdentity", "the caller"))
            return False
        arn = str(found.get("Arn", ""))
        self.account = str(found.get("Account", "")) or None
        self.partition = arn.split(":")[1] if arn.count(":") >= 2 else "aws"
        self.report.add("aws identity", PASS, f"{arn} (account {self.account}, {self.region})", arn=arn)
        return True

    def _log_group_arn(self) -> str:
        group = self.settings.log_group
        if self.account is None:
            return f"log group {group}"
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{group}"

    # -- CloudWatch Logs -------------------------------------------------------------------------------------------
    def log_group(self) -> bool:
        group = self.settings.log_group
        kwargs: dict[str, Any] = {"logGroupNamePrefix": group}
        try:
            logs = self.client("logs")
            while True:
                page = logs.describe_log_groups(**kwargs)
                if any(g.get("logGroupName") == group for g in page.get("logGroups", [])):
                    break
                if not page.get("nextToken"):
                    self.report.add(
                        f"log group {group}",
                        FAIL,
                        f"not found in {self.region}: check BETA_MONITOR_LOG_GROUP and AWS_REGION",
                    )
                    return False
                kwargs["nextToken"] = page["nextToken"]
        except AWS_FAILURES as exc:
            self.report.add(f"log group {group}", FAIL, aws_failure(exc, "logs:DescribeLogGroups", "*"))
            return False
        self.report.add(f"log group {group}", PASS, f"found in {self.region} (logs:DescribeLogGroups allowed)")
        return True

    def filter_events(self) -> None:
        start = int((self.now - timedelta(minutes=self.minutes)).timestamp() * 1000)
        try:
            page = self.client("logs").filter_log_events(
                logGroupName=self.settings.log_group, startTime=start, endTime=int(self.now.timestamp() * 1000), limit=1
            )
        except AWS_FAILURES as exc:
            self.report.add(
                "logs:FilterLogEvents", FAIL, aws_failure(exc, "logs:FilterLogEvents", self._log_group_arn())
            )
            return
        seen = "an event" if page.get("events") else "no event"
        self.report.add(
            "logs:FilterLogEvents",
            PASS,
            f"allowed on {self.settings.log_group} ({seen} in the last {self.minutes} min)",
        )

    def insights_calls(self) -> bool:
        """StartQuery, GetQueryResults and StopQuery on a one-row query over the last minutes."""
        name, arn = "logs:StartQuery, GetQueryResults, StopQuery", self._log_group_arn()
        logs = self.client("logs")
        try:
            query_id = logs.start_query(
                logGroupName=self.settings.log_group,
                startTime=int((self.now - timedelta(minutes=self.minutes)).timestamp()),
                endTime=int(self.now.timestamp()),
                queryString=PROBE_QUERY,
                limit=1,
            )["queryId"]
        except AWS_FAILURES as exc:
            self.report.add(name, FAIL, aws_failure(exc, "logs:StartQuery", arn))
            return False
        try:
            status = self._wait(logs, query_id)
        except AWS_FAILURES as exc:
            self.report.add(name, FAIL, aws_failure(exc, "logs:GetQueryResults", arn))
            return False
        try:
            logs.stop_query(queryId=query_id)
            stopped = "stopped"
        except AWS_FAILURES as exc:
            code = aws_code(exc)
            if code in DENIED:
                self.report.add(name, FAIL, aws_failure(exc, "logs:StopQuery", "*"))
                return False
            stopped = f"StopQuery answered {code} for the ended query, so it is allowed"
        self.report.add(name, PASS, f"allowed on {self.settings.log_group} (probe query {status}, {stopped})")
        return True

    def _wait(self, logs: Any, query_id: str) -> str:
        deadline = time.monotonic() + QUERY_WAIT_S
        while True:
            status = str(logs.get_query_results(queryId=query_id).get("status", "Unknown"))
            if status in _TERMINAL or time.monotonic() >= deadline:
                return status
            self.sleep(0.5)

    # -- the phase log ---------------------------------------------------------------------------------------------
    def phase_log(self, template: str) -> None:
        if template.startswith("s3://"):
            self._s3_phase_log(template)
        else:
            self._file_phase_log(template)

    def _s3_phase_log(self, template: str) -> None:
        bucket, _, key_template = template[len("s3://") :].partition("/")
        directory = _directory(key_template)
        key = directory + PROBE_OBJECT
        name, resource = f"phase log s3://{bucket}/{directory}", f"arn:{self.partition}:s3:::{bucket}/{key}"
        s3 = self.client("s3")
        try:
            found = s3.get_object(Bucket=bucket, Key=key)
            condition = {"IfMatch": str(found["ETag"])}
        except AWS_FAILURES as exc:
            code = aws_code(exc)
            if code == "NoSuchBucket":
                self.report.add(name, FAIL, f"bucket {bucket} does not exist: check BETA_MONITOR_PHASE_LOG")
                return
            if code not in _MISSING_OBJECT:
                hint = " (without s3:ListBucket on the bucket a missing object also reads as denied)"
                self.report.add(name, FAIL, aws_failure(exc, "s3:GetObject", resource, hint))
                return
            condition = {"IfNoneMatch": "*"}
        body = f"beta-monitor doctor probe, {self.now.isoformat()}: safe to delete\n".encode()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain; charset=utf-8", **condition)
        except AWS_FAILURES as exc:
            if aws_code(exc) not in _S3_RACE:  # another doctor wrote it in between: the write was allowed
                self.report.add(name, FAIL, aws_failure(exc, "s3:PutObject", resource))
                return
        self.report.add(
            name,
            PASS,
            f"s3:GetObject and a conditional s3:PutObject allowed (probe object {key} stays: the task role has no "
            "s3:DeleteObject; each run overwrites it)",
        )

    def _file_phase_log(self, template: str) -> None:
        directory = Path(_directory(template.removeprefix("file://")) or ".")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=PROBE_OBJECT, delete=True) as probe:
                probe.write(b"probe")
                probe.flush()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self.report.add(
                f"phase log {directory}", FAIL, f"cannot write there: {reason} — check BETA_MONITOR_PHASE_LOG"
            )
            return
        self.report.add(f"phase log {directory}", PASS, "writable (a probe file was written and removed)")

    # -- notifications ---------------------------------------------------------------------------------------------
    def sns(self, notify: bool, why_not: str) -> None:
        topic = self.settings.sns_topic_arn
        if not topic:
            self.report.add("sns", SKIP, "no topic configured (BETA_MONITOR_SNS_TOPIC_ARN)")
            return
        if not notify:
            self.report.add("sns", SKIP, f"sns:Publish not exercised: {why_not}")
            return
        try:
            sent = self.client("sns").publish(
                TopicArn=topic,
                Subject="beta-monitor doctor: test notification",
                Message=f"beta-monitor doctor checked the deployment at {self.now.isoformat()}: notifications reach "
                "this topic. No action needed.",
            )
        except AWS_FAILURES as exc:
            detail = aws_failure(exc, "sns:Publish", topic)
            if aws_code(exc) == "NotFound":
                detail = f"topic {topic} does not exist: check BETA_MONITOR_SNS_TOPIC_ARN"
            self.report.add("sns", FAIL, detail)
            return
        message_id = sent.get("MessageId", "?")
        self.report.add("sns", PASS, f"sns:Publish allowed on {topic} (test notification {message_id} sent)")

    def put_metric(self) -> None:
        namespace = self.settings.metric_namespace
        if not self.settings.publish_metric:
            self.report.add("cloudwatch:PutMetricData", SKIP, "BETA_MONITOR_PUBLISH_METRIC is off")
            return
        try:
            self.client("cloudwatch").put_metric_data(
                Namespace=namespace, MetricData=[{"MetricName": PROBE_METRIC, "Value": 1.0, "Unit": "Count"}]
            )
        except AWS_FAILURES as exc:
            detail = aws_failure(exc, "cloudwatch:PutMetricData", f"namespace {namespace}")
            self.report.add("cloudwatch:PutMetricData", FAIL, detail)
            return
        detail = f"allowed in namespace {namespace} (metric {PROBE_METRIC}, which no alarm watches)"
        self.report.add("cloudwatch:PutMetricData", PASS, detail)

    def get_metric(self) -> None:
        balancer = self.settings.alb_load_balancer
        if not balancer:
            self.report.add(
                "cloudwatch:GetMetricData", SKIP, "no load balancer configured (BETA_MONITOR_ALB_LOAD_BALANCER)"
            )
            return
        query = {
            "Id": "requests",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": "RequestCount",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": balancer}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
        try:
            self.client("cloudwatch").get_metric_data(
                MetricDataQueries=[query], StartTime=self.now - timedelta(minutes=self.minutes), EndTime=self.now
            )
        except AWS_FAILURES as exc:
            self.report.add("cloudwatch:GetMetricData", FAIL, aws_failure(exc, "cloudwatch:GetMetricData", "*"))
            return
        self.report.add("cloudwatch:GetMetricData", PASS, f"allowed (RequestCount of {balancer})")


def _directory(path_template: str) -> str:
    """The fixed directory part of a destination template: up to the last '/' before the first placeholder."""
    fixed = path_template.split("{", 1)[0]
    return fixed[: fixed.rfind("/") + 1]
