"""infra/beta-monitor.yaml deployed to CloudFormation on moto (in-process): the stack completes, and what moto
builds — roles with their resolved policies, the task definition, the classic rule's ECS target, bucket, topic — is
scoped as intended. moto skips AWS::Scheduler::Schedule, alarms and bucket/queue/topic policies (asserted below, so
the list of unverified resources is explicit), and ignores the bucket's lifecycle and the template's Rules;
test_infra.py checks those from the template text."""

from __future__ import annotations

import ast
import json
import urllib.parse
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers_cfn import load_template
from helpers_eventbridge import matches, task_state_event

TEMPLATE = (Path(__file__).resolve().parents[1] / "infra" / "beta-monitor.yaml").read_text()
REGION = "eu-west-1"
ACCOUNT = "123456789012"
FEATURE, PHASE = "passenger_favorites_matching", "5pct"
SKIPPED_BY_MOTO = {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::CloudWatch::Alarm"}

Deploy = Callable[..., dict[str, Any]]


@pytest.fixture
def deploy(mock_aws_env: None) -> Deploy:
    """Creates the network and database secret the stack expects, and returns `deploy(name, **parameters)`."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="beta-monitor", Description="job egress", VpcId=vpc)["GroupId"]
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="beta-monitor/database-url",
        SecretString="postgresql://watchdog@db.internal/beta_monitor",
    )["ARN"]
    base = {
        "Command": "checkpoint",  # the one-feature option; the default (watch) is deployed on its own below
        "FeatureKey": FEATURE,
        "PhaseName": PHASE,
        "Subnets": subnet,
        "SecurityGroups": group,
        "DatabaseSecretArn": secret,
        "ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/beta-monitor:0.1.0",
    }

    def run(name: str, **parameters: str) -> dict[str, Any]:
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        values = {**base, **parameters}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=name,
                TemplateBody=TEMPLATE,
                Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            )
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        skipped = {str(w.message).split()[3] for w in caught if "not supported by moto" in str(w.message)}
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return {"status": stack["StackStatus"], "skipped": skipped, "outputs": outputs, "secret": secret}

    return run


def role_policy(role_prefix: str) -> list[dict[str, Any]]:
    iam = boto3.client("iam")
    [role] = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(role_prefix)]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        # boto3 decodes AWS's URL-encoded JSON into a dict; moto 5.2 (policies from CloudFormation) returns the
        # Python repr of the document instead. Read either, never execute it.
        text = urllib.parse.unquote(document)
        document = json.loads(text) if text.lstrip().startswith('{"') else ast.literal_eval(text)
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def test_classic_rule_variant_deploys_with_scoped_roles(deploy: Deploy) -> None:
    stack = deploy("bm-classic", Trigger="events-rule")
    assert stack["status"] == "CREATE_COMPLETE"
    assert stack["skipped"] == SKIPPED_BY_MOTO | {"AWS::SQS::QueuePolicy"}
    out = stack["outputs"]
    bucket = out["PhaseLogBucketName"]

    task = by_sid(role_policy("bm-classic-TaskRole"))
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/kaviar-backend"
    assert task["ReadBackendLogs"]["Resource"] == [group_arn, f"{group_arn}:*"]
    assert task["PhaseLogObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/phase-logs/*"
    assert task["PhaseLogListing"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert task["Notify"]["Resource"] == out["AlertTopicArn"]

    execution = by_sid(role_policy("bm-classic-ExecutionRole"))
    # moto keeps the AWS::NoValue of the unset flags secret as None; CloudFormation drops it.
    assert [r for r in execution["ReadDatabaseSecrets"]["Resource"] if r] == [stack["secret"]]
    job_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/beta-monitor/bm-classic"
    assert execution["WriteJobLogs"]["Resource"].startswith(job_group)

    trigger = by_sid(role_policy("bm-classic-TriggerRole"))
    assert trigger["RunCheckpointTask"]["Resource"] == out["TaskDefinitionArn"]
    assert trigger["RunCheckpointTask"]["Condition"] == {"ArnEquals": {"ecs:cluster": out["ClusterArn"]}}


def test_classic_rule_starts_the_task_with_a_run_key(deploy: Deploy) -> None:
    stack = deploy("bm-rule", Trigger="events-rule")
    out = stack["outputs"]
    events = boto3.client("events", region_name=REGION)
    [rule] = [r for r in events.list_rules()["Rules"] if "ScheduleExpression" in r]
    assert rule["Name"] == out["ClassicRuleName"]
    assert (rule["ScheduleExpression"], rule["State"]) == ("cron(5 * * * ? *)", "ENABLED")
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == out["ClusterArn"]
    assert target["EcsParameters"]["TaskDefinitionArn"] == out["TaskDefinitionArn"]
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    template = target["InputTransformer"]["InputTemplate"]
    assert f'"--run-key", "{FEATURE}|{PHASE}|hourly|<time>"' in template
    assert target["DeadLetterConfig"]["Arn"].endswith(out["TriggerDeadLetterQueueUrl"].rsplit("/", 1)[1])
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3


def test_task_definition_runs_the_checkpoint_with_settings_from_env_and_secret(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy("bm-task", Trigger="events-rule")
    out = stack["outputs"]
    definition = boto3.client("ecs", region_name=REGION).describe_task_definition(
        taskDefinition=out["TaskDefinitionArn"]
    )["taskDefinition"]
    [box] = definition["containerDefinitions"]
    assert box["name"] == out["ContainerName"] == "beta-monitor"
    assert box["command"] == ["checkpoint", FEATURE, PHASE, "hourly", "--source", "insights"]
    assert box["readonlyRootFilesystem"] is True
    assert box["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp"}]
    assert box["linuxParameters"] == {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True}
    assert box["stopTimeout"] == 30
    assert box["logConfiguration"]["options"]["awslogs-group"] == out["JobLogGroupName"]
    # moto keeps the AWS::NoValue of the optional flags secret as a None; CloudFormation drops it.
    assert [s for s in box["secrets"] if s] == [{"name": "BETA_MONITOR_DATABASE_URL", "valueFrom": stack["secret"]}]

    from monitor.settings import load_settings

    for variable in box["environment"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    settings = load_settings()
    assert settings.log_group == "/ecs/kaviar-backend" and settings.publish_metric is True
    assert settings.log_format == "json" and settings.sns_topic_arn == out["AlertTopicArn"]
    assert settings.phase_log == f"s3://{out['PhaseLogBucketName']}/phase-logs/{{feature}}/{{phase}}.md"
    assert settings.aws_region == REGION


def test_bucket_is_encrypted_and_job_logs_expire(deploy: Deploy) -> None:
    # moto's CloudFormation applies only encryption and tags to a bucket: versioning and the public access block
    # are checked on the template in test_infra.py.
    bucket = deploy("bm-bucket", Trigger="events-rule")["outputs"]["PhaseLogBucketName"]
    s3 = boto3.client("s3", region_name=REGION)
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    logs = boto3.client("logs", region_name=REGION)
    groups = logs.describe_log_groups(logGroupNamePrefix="/beta-monitor/")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [("/beta-monitor/bm-bucket", 90)]


def test_scheduler_variant_in_an_existing_cluster_creates_no_rule_and_no_cluster(deploy: Deploy) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    existing = ecs.create_cluster(clusterName="platform-jobs")["cluster"]["clusterArn"]
    flags = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="kaviar/backend-database-url",
        SecretString="postgresql://reader@backend.internal/kaviar",
    )["ARN"]
    stack = deploy("bm-sched", Trigger="scheduler", ExistingClusterArn=existing, FlagsDatabaseSecretArn=flags)
    assert stack["status"] == "CREATE_COMPLETE"
    assert stack["skipped"] == SKIPPED_BY_MOTO | {"AWS::Scheduler::Schedule"}
    assert ecs.list_clusters()["clusterArns"] == [existing]
    assert stack["outputs"]["ClusterArn"] == existing
    assert "ClassicRuleName" not in stack["outputs"]
    # No schedule rule: the only rule is the one that reports abnormal task stops.
    rules = boto3.client("events", region_name=REGION).list_rules()["Rules"]
    assert [r["Name"] for r in rules] == [stack["outputs"]["TaskStoppedRuleName"]]
    assert "ScheduleExpression" not in rules[0]
    trigger = by_sid(role_policy("bm-sched-TriggerRole"))
    assert trigger["RunCheckpointTask"]["Condition"] == {"ArnEquals": {"ecs:cluster": existing}}
    execution = by_sid(role_policy("bm-sched-ExecutionRole"))
    assert execution["ReadDatabaseSecrets"]["Resource"] == [stack["secret"], flags]
    [box] = ecs.describe_task_definition(taskDefinition=stack["outputs"]["TaskDefinitionArn"])["taskDefinition"][
        "containerDefinitions"
    ]
    assert box["secrets"] == [
        {"name": "BETA_MONITOR_DATABASE_URL", "valueFrom": stack["secret"]},
        {"name": "BETA_MONITOR_FLAGS_DATABASE_URL", "valueFrom": flags},
    ]


@pytest.mark.parametrize(
    ("status", "alarms"),
    [
        pytest.param("PASS", False, id="pass-quiet"),
        pytest.param("WARN", False, id="warn-quiet"),
        pytest.param("FAIL", True, id="fail-alarms"),
    ],
)
def test_alarm_threshold_matches_what_the_job_publishes(mock_aws_env: None, status: str, alarms: bool) -> None:
    """The job's own notifier publishes to moto; the template's alarm (Maximum >= 2 on feature, phase) is applied."""
    from monitor.domain import Checkpoint, ExpectedConfig, Status, Window
    from monitor.notify import AwsNotifier

    alarm = load_template()["Resources"]["CheckpointFailedAlarm"]["Properties"]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC).replace(microsecond=0)
    checkpoint = Checkpoint(
        feature=FEATURE,
        phase=PHASE,
        label="hourly",
        run_key="k",
        status=Status(status),
        window=Window(start=now - timedelta(hours=1), end=now),
        live_config={},
        expected=ExpectedConfig(),
        checks=[],
        created_at=now,
    )
    AwsNotifier(sns=None, cloudwatch=cloudwatch, topic_arn=None, namespace=alarm["Namespace"]).notify(None, checkpoint)
    dimensions = [
        {"Name": d["Name"], "Value": {FEATURE: FEATURE, PHASE: PHASE}[_ref_value(d["Value"])]}
        for d in alarm["Dimensions"]
    ]
    stats = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=dimensions,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=alarm["Period"],
        Statistics=[alarm["Statistic"]],
    )["Datapoints"]
    assert len(stats) == 1, "the alarm's namespace, metric or dimensions do not match what the job publishes"
    assert (stats[0][alarm["Statistic"]] >= alarm["Threshold"]) is alarms


@pytest.mark.parametrize("failed", [False, True], ids=["appended-quiet", "append-failed-alarms"])
def test_append_failed_alarm_matches_what_the_job_publishes(mock_aws_env: None, failed: bool) -> None:
    from monitor.domain import Checkpoint, ExpectedConfig, Status, Window
    from monitor.notify import AwsNotifier

    alarm = load_template()["Resources"]["PhaseLogAppendFailedAlarm"]["Properties"]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC).replace(microsecond=0)
    checkpoint = Checkpoint(
        feature=FEATURE,
        phase=PHASE,
        label="hourly",
        run_key="k",
        status=Status.PASS,
        window=Window(start=now - timedelta(hours=1), end=now),
        live_config={},
        expected=ExpectedConfig(),
        checks=[],
        created_at=now,
    )
    notifier = AwsNotifier(sns=None, cloudwatch=cloudwatch, topic_arn=None, namespace=alarm["Namespace"])
    notifier.notify(None, checkpoint, append_failed=failed)
    stats = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=[{"Name": "feature", "Value": FEATURE}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=alarm["Period"],
        Statistics=[alarm["Statistic"]],
    )["Datapoints"]
    assert len(stats) == 1, "the alarm's namespace, metric or dimensions do not match what the job publishes"
    assert (stats[0][alarm["Statistic"]] >= alarm["Threshold"]) is failed


def _ref_value(value: dict[str, str]) -> str:
    return {"FeatureKey": FEATURE, "PhaseName": PHASE}[value["Ref"]]


def test_task_stop_rule_reports_this_stacks_abnormal_stops_to_the_encrypted_topic(deploy: Deploy) -> None:
    """The pattern as CloudFormation resolved it, applied to events of the stack's real task definition ARN."""
    stack = deploy("bm-stops", Trigger="events-rule")
    out = stack["outputs"]
    events = boto3.client("events", region_name=REGION)
    rule = events.describe_rule(Name=out["TaskStoppedRuleName"])
    assert rule["State"] == "ENABLED"
    pattern = json.loads(rule["EventPattern"])
    family, _, revision = out["TaskDefinitionArn"].rpartition("/")[2].partition(":")
    assert family == "beta-monitor-bm-stops"

    def event(**kwargs: Any) -> dict[str, Any]:
        found = task_state_event(family=family, revision=int(revision), **kwargs)
        found["detail"]["taskDefinitionArn"] = out["TaskDefinitionArn"]  # exactly what ECS reports
        return found

    assert matches(pattern, event(exit_code=3))
    assert matches(pattern, event(stop_code="TaskFailedToStart", stopped_reason="CannotPullContainerError: x"))
    assert not any(matches(pattern, event(exit_code=code)) for code in (0, 1, 2))
    other = event(exit_code=3)
    other["detail"]["taskDefinitionArn"] = out["TaskDefinitionArn"].replace(f"{family}:", f"{family}2:")
    assert not matches(pattern, other)

    [target] = events.list_targets_by_rule(Rule=out["TaskStoppedRuleName"])["Targets"]
    assert target["Arn"] == out["AlertTopicArn"]
    template = target["InputTransformer"]["InputTemplate"]
    message = json.loads(template.replace("<aws.events.event>", json.dumps(event(exit_code=3))))
    assert FEATURE in message["alert"] and message["logs"] == out["JobLogGroupName"]

    attributes = boto3.client("sns", region_name=REGION).get_topic_attributes(TopicArn=out["AlertTopicArn"])
    key_id = attributes["Attributes"]["KmsMasterKeyId"]
    # The stack's own key (moto's describe_key fails on a key policy given by CloudFormation: list instead).
    keys = boto3.client("kms", region_name=REGION).list_keys()["Keys"]
    [key_arn] = [k["KeyArn"] for k in keys if k["KeyId"] == key_id]
    task = by_sid(role_policy("bm-stops-TaskRole"))
    assert task["NotifyEncryptedTopic"]["Resource"] == key_arn


def test_the_default_stack_watches_every_flag_in_rollout(deploy: Deploy) -> None:
    """Command defaults to watch: no FeatureKey needed, the task runs `watch`, the classic rule sends it with a run
    key per schedule time."""
    stack = deploy("bm-watch", Trigger="events-rule", Command="watch", FeatureKey="", PhaseName="auto")
    assert stack["status"] == "CREATE_COMPLETE"
    out = stack["outputs"]
    [box] = boto3.client("ecs", region_name=REGION).describe_task_definition(taskDefinition=out["TaskDefinitionArn"])[
        "taskDefinition"
    ]["containerDefinitions"]
    assert box["command"] == ["watch", "--label", "hourly", "--source", "insights"]
    events = boto3.client("events", region_name=REGION)
    [target] = events.list_targets_by_rule(Rule=out["ClassicRuleName"])["Targets"]
    template = target["InputTransformer"]["InputTemplate"]
    command = json.loads(template.replace("<time>", "2026-11-22T14:05:00Z"))["containerOverrides"][0]["command"]
    assert command == [
        "watch",
        "--label",
        "hourly",
        "--run-key",
        "watch|hourly|2026-11-22T14:05:00Z",
        "--source",
        "insights",
    ]


@pytest.mark.parametrize(
    ("statuses", "alarms"),
    [
        pytest.param(("PASS", "WARN"), False, id="warn-quiet"),
        pytest.param(("PASS", "FAIL"), True, id="one-fail-alarms"),
        pytest.param((), False, id="no-flag-quiet"),
    ],
)
def test_worst_status_alarm_matches_what_watch_publishes(
    mock_aws_env: None, statuses: tuple[str, ...], alarms: bool
) -> None:
    from monitor.domain import Status
    from monitor.notify import AwsNotifier

    resources = load_template()["Resources"]
    alarm, missing = resources["WorstStatusFailedAlarm"]["Properties"], resources["WatchMissingAlarm"]["Properties"]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC).replace(microsecond=0)
    worst = Status.worst(*(Status(s) for s in statuses)) if statuses else Status.PASS
    notifier = AwsNotifier(sns=None, cloudwatch=cloudwatch, topic_arn=None, namespace=alarm["Namespace"])
    assert notifier.worst_status(worst, len(statuses)) == f"metric BetaMonitor/WorstStatus={worst.metric_value}"
    for props, statistic in ((alarm, alarm["Statistic"]), (missing, missing["Statistic"])):
        stats = cloudwatch.get_metric_statistics(
            Namespace=props["Namespace"],
            MetricName=props["MetricName"],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=props["Period"],
            Statistics=[statistic],
        )["Datapoints"]
        assert len(stats) == 1, "the alarm's namespace or metric does not match what watch publishes"
        if props is alarm:
            assert (stats[0][statistic] >= props["Threshold"]) is alarms
        else:  # a run was seen: the missing-run alarm stays quiet
            assert stats[0][statistic] >= props["Threshold"]
