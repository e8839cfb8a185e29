"""The doctor's probes on moto in-process, with a denial injected before the request is sent (botocore's
before-send hook): each missing permission is named as the IAM action and resource to add to the task role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from monitor.doctor.aws_probes import AwsProbes
from monitor.doctor.report import FAIL, PASS, DoctorReport, aws_failure
from monitor.settings import load_settings

NOW = datetime.now(UTC).replace(microsecond=0)
BUCKET = "phase-logs-bucket"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.body


def deny(client: Any, operation: str, status: int, body: bytes) -> None:
    service = client.meta.service_model.service_id.hyphenize()

    def hook(request: Any, **_kwargs: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Raw(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", hook)


S3_DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
SNS_DENIED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not authorized</Message>"
    b"</Error></ErrorResponse>"
)
SNS_KMS = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>KMSAccessDenied</Code><Message>kms</Message>"
    b"</Error></ErrorResponse>"
)


@pytest.fixture
def world(mock_aws_env: None) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    topic = boto3.client("sns", region_name="eu-west-1").create_topic(Name="alerts")["TopicArn"]
    return {"topic": topic}


def probes(clients: dict[str, Any], **settings: Any) -> tuple[AwsProbes, DoctorReport]:
    report = DoctorReport()
    build: Callable[[str], Any] = lambda service: clients.setdefault(  # noqa: E731 - one builder, cached per service
        service, boto3.client(service, region_name="eu-west-1")
    )
    probe = AwsProbes(load_settings(**settings), report, build, now=NOW, minutes=10)
    assert probe.identity()
    return probe, report


def test_s3_get_denied_names_the_action_the_object_and_list_bucket(world: dict[str, Any]) -> None:
    clients: dict[str, Any] = {}
    probe, report = probes(clients)
    deny(probe.client("s3"), "GetObject", 403, S3_DENIED)
    probe.phase_log(f"s3://{BUCKET}/phase-logs/{{feature}}/{{phase}}.md")
    last = report.probes[-1]
    assert last.status == FAIL
    assert last.detail == (
        f"IAM: s3:GetObject denied on arn:aws:s3:::{BUCKET}/phase-logs/.beta-monitor-doctor (without s3:ListBucket "
        "on the bucket a missing object also reads as denied) — add it to the task role"
    )


def test_s3_put_denied(world: dict[str, Any]) -> None:
    clients: dict[str, Any] = {}
    probe, report = probes(clients)
    deny(probe.client("s3"), "PutObject", 403, S3_DENIED)
    probe.phase_log(f"s3://{BUCKET}/phase-logs/{{feature}}/{{phase}}.md")
    assert report.probes[-1].detail.startswith("IAM: s3:PutObject denied on arn:aws:s3:::")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(SNS_DENIED, "IAM: sns:Publish denied on {topic} — add it to the task role", id="publish"),
        pytest.param(
            SNS_KMS,
            "IAM: kms:GenerateDataKey and kms:Decrypt denied on the key of {topic} — add them to the task role",
            id="topic-key",
        ),
    ],
)
def test_sns_denied(world: dict[str, Any], body: bytes, detail: str) -> None:
    clients: dict[str, Any] = {}
    probe, report = probes(clients, sns_topic_arn=world["topic"])
    deny(probe.client("sns"), "Publish", 403, body)
    probe.sns(True, "")
    assert report.probes[-1].status == FAIL
    assert report.probes[-1].detail == detail.format(topic=world["topic"])


def test_sns_publish_and_metric_pass_when_allowed(world: dict[str, Any]) -> None:
    probe, report = probes({}, sns_topic_arn=world["topic"], publish_metric=True)
    probe.sns(True, "")
    probe.put_metric()
    assert [p.status for p in report.probes[-2:]] == [PASS, PASS]


def test_a_local_phase_log_directory_is_written_and_left_clean(tmp_path: Any, world: dict[str, Any]) -> None:
    probe, report = probes({})
    probe.phase_log(str(tmp_path / "reports" / "{feature}" / "{phase}.md"))
    assert report.probes[-1].status == PASS and list((tmp_path / "reports").iterdir()) == []
    (tmp_path / "taken").write_text("a file where the directory should be")
    probe.phase_log(str(tmp_path / "taken" / "{feature}.md"))
    assert report.probes[-1].status == FAIL
    assert report.probes[-1].detail.startswith("cannot write there: ")
    assert report.probes[-1].detail.endswith("— check BETA_MONITOR_PHASE_LOG")


def test_an_error_that_is_not_a_denial_is_said_as_the_aws_error() -> None:
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "FilterLogEvents")
    assert aws_failure(exc, "logs:FilterLogEvents", "g") == (
        "logs:FilterLogEvents on g failed: ThrottlingException: Rate exceeded"
    )
