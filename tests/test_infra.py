"""infra/beta-monitor.yaml read as a document: cfn-lint clean, least-privilege IAM, one trigger at a time, and a
scheduled command the real CLI accepts. The deployment itself (on moto) is in test_infra_deploy.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers_cfn import TEMPLATE_PATH, load_template
from helpers_eventbridge import matches, task_state_event

from monitor.cli.parser import build_parser
from monitor.settings import Settings

CONTAINER = "beta-monitor"
SAMPLE = {"FeatureKey": "passenger_favorites_matching", "PhaseName": "5pct", "CheckpointLabel": "hourly"}
TASK_LOGS_ACTIONS = {
    "logs:StartQuery",
    "logs:GetQueryResults",
    "logs:StopQuery",
    "logs:FilterLogEvents",
    "logs:DescribeLogGroups",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def mentions(value: Any, name: str) -> bool:
    """Whether a (possibly intrinsic) value refers to `name` through Ref, GetAtt or a ${...} in Sub."""
    text = json.dumps(value)
    return f'"Ref": "{name}"' in text or f"${{{name}" in text or f'"Fn::GetAtt": ["{name}"' in text


def fill(text: str, values: dict[str, str]) -> str:
    """What Fn::Sub does with plain parameter references."""
    return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: values[m.group(1)], text)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][name]
    return found


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = resource(template, role)["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def all_role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    roles = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    return [s for role in roles for s in role_statements(template, role)]


# ---- cfn-lint ---------------------------------------------------------------------------------------------------


def lint(text: str) -> list[str]:
    from cfnlint.api import lint_all

    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in lint_all(text) if not m.rule.id.startswith("I")]


def test_cfn_lint_is_clean() -> None:
    assert lint(TEMPLATE_PATH.read_text()) == []


def test_cfn_lint_would_catch_an_unquoted_off() -> None:
    # YAML reads a bare OFF as false; the same lint call must report it, or the test above proves nothing.
    text = TEMPLATE_PATH.read_text()
    assert 'Mode: "OFF"' in text
    assert any(f.startswith("E") for f in lint(text.replace('Mode: "OFF"', "Mode: OFF")))


# ---- IAM ----------------------------------------------------------------------------------------------------------


def actions_without_resource_scope() -> set[str]:
    """Actions for which IAM accepts only Resource "*" (no resource type), from cfn-lint's copy of the IAM reference."""
    import cfnlint.data.AdditionalSpecs as specs

    policies = json.loads((Path(specs.__file__).parent / "Policies.json").read_text())
    return {
        f"{service}:{action}"
        for service, data in policies.items()
        for action, spec in data.get("Actions", {}).items()
        if not spec.get("Resources")
    }


def test_no_wildcard_actions(template: dict[str, Any]) -> None:
    for statement in all_role_statements(template):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*") and "*" not in action, statement


def test_star_resources_only_where_iam_offers_no_scope(template: dict[str, Any]) -> None:
    unscoped = actions_without_resource_scope()
    for statement in all_role_statements(template):
        if "*" not in as_list(statement["Resource"]):
            continue
        for action in as_list(statement["Action"]):
            if action == "cloudwatch:PutMetricData":
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "BetaMonitor"}}
            elif action != "cloudwatch:GetMetricData":
                assert action.lower() in unscoped, f"{action} supports resource scoping; do not grant it on *"


def test_task_role_reads_only_the_backend_log_group(template: dict[str, Any]) -> None:
    logs = [s for s in role_statements(template, "TaskRole") if as_list(s["Action"])[0].startswith("logs:")]
    assert {a for s in logs for a in as_list(s["Action"])} == TASK_LOGS_ACTIONS
    scoped = [s for s in logs if "*" not in as_list(s["Resource"])]
    assert {"logs:StartQuery", "logs:GetQueryResults", "logs:FilterLogEvents"} <= {
        a for s in scoped for a in as_list(s["Action"])
    }
    for statement in scoped:
        assert all(mentions(r, "BackendLogGroupName") for r in as_list(statement["Resource"])), statement


def test_task_role_writes_only_under_the_phase_log_prefix(template: dict[str, Any]) -> None:
    s3 = [s for s in role_statements(template, "TaskRole") if as_list(s["Action"])[0].startswith("s3:")]
    objects = next(s for s in s3 if "s3:PutObject" in as_list(s["Action"]))
    assert set(as_list(objects["Action"])) == {"s3:GetObject", "s3:PutObject"}
    assert objects["Resource"] == {"Fn::Sub": "${PhaseLogBucket.Arn}/phase-logs/*"}
    # A GetObject of a missing key is 404 only with ListBucket, checked in the GetObject request's context: it has no
    # s3:prefix, so a condition on s3:prefix would turn every first read of a new phase log into a 403.
    [listing] = [s for s in s3 if "s3:ListBucket" in as_list(s["Action"])]
    assert as_list(listing["Action"]) == ["s3:ListBucket"] and "Condition" not in listing
    assert listing["Resource"] == {"Fn::GetAtt": ["PhaseLogBucket", "Arn"]}  # the bucket itself, not its objects
    env = {e["Name"]: e["Value"] for e in container(template)["Environment"]}
    assert env["BETA_MONITOR_PHASE_LOG"] == {"Fn::Sub": "s3://${PhaseLogBucket}/phase-logs/{feature}/{phase}.md"}


def test_task_role_publishes_only_to_its_topic(template: dict[str, Any]) -> None:
    sns = [s for s in role_statements(template, "TaskRole") if as_list(s["Action"])[0].startswith("sns:")]
    assert [(s["Action"], s["Resource"]) for s in sns] == [("sns:Publish", {"Ref": "AlertTopic"})]


def test_execution_role_reads_only_the_database_secrets(template: dict[str, Any]) -> None:
    statements = role_statements(template, "ExecutionRole")
    secrets = [s for s in statements if as_list(s["Action"])[0].startswith("secretsmanager:")]
    assert [s["Action"] for s in secrets] == ["secretsmanager:GetSecretValue"]
    resources = as_list(secrets[0]["Resource"])
    assert resources[0] == {"Ref": "DatabaseSecretArn"} and mentions(resources[1], "FlagsDatabaseSecretArn")
    logs = [s for s in statements if as_list(s["Action"])[0].startswith("logs:")]
    assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": ["JobLogGroup", "Arn"]}]
    pulls = [s for s in statements if "ecr:BatchGetImage" in as_list(s["Action"])]
    assert all(mentions(s["Resource"], "EcrRepositoryName") for s in pulls) and pulls


def test_trigger_role_starts_only_this_task_with_these_roles(template: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in role_statements(template, "TriggerRole")}
    assert statements["RunCheckpointTask"]["Resource"] == {"Ref": "TaskDefinition"}
    assert statements["PassTaskRoles"]["Resource"] == [
        {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
        {"Fn::GetAtt": ["TaskRole", "Arn"]},
    ]
    assert statements["SchedulerDeadLetters"]["Resource"] == {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}
    trust = resource(template, "TriggerRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert sorted(trust["Principal"]["Service"]) == ["events.amazonaws.com", "scheduler.amazonaws.com"]


def test_phase_log_bucket_is_versioned_encrypted_private_and_kept(template: dict[str, Any]) -> None:
    bucket = resource(template, "PhaseLogBucket")
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [sse] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    [deny] = resource(template, "PhaseLogBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---- task definition, schedule and rule ------------------------------------------------------------------------


def container(template: dict[str, Any]) -> dict[str, Any]:
    definitions = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert [d["Name"] for d in definitions] == [CONTAINER]
    found: dict[str, Any] = definitions[0]
    return found


def test_every_configured_variable_is_a_real_setting(template: dict[str, Any]) -> None:
    names = [e["Name"] for e in container(template)["Environment"]]
    names += [s["Name"] for s in container(template)["Secrets"] if "Name" in s]
    names += [s["Fn::If"][1]["Name"] for s in container(template)["Secrets"] if "Fn::If" in s]
    settings = {n for n in names if n.startswith("BETA_MONITOR_")}
    assert {"BETA_MONITOR_DATABASE_URL", "BETA_MONITOR_FLAGS_DATABASE_URL", "BETA_MONITOR_LOG_GROUP"} <= settings
    for name in settings:
        assert name.removeprefix("BETA_MONITOR_").lower() in Settings.model_fields, name
    assert "AWS_REGION" in names


def test_the_two_triggers_are_never_active_together(template: dict[str, Any]) -> None:
    schedule, rule = resource(template, "CheckpointSchedule"), resource(template, "ClassicRule")
    conditions = template["Conditions"]
    on_schedule = conditions[schedule["Condition"]]["Fn::Equals"]
    on_rule = conditions[rule["Condition"]]["Fn::Equals"]
    assert on_schedule[0] == on_rule[0] == {"Ref": "Trigger"} and on_schedule[1] != on_rule[1]
    assert {on_schedule[1], on_rule[1]} == set(template["Parameters"]["Trigger"]["AllowedValues"])


def test_schedule_settings(template: dict[str, Any]) -> None:
    props = resource(template, "CheckpointSchedule")["Properties"]
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert template["Parameters"]["ScheduleExpression"]["Default"] == "cron(5 * * * ? *)"
    assert template["Parameters"]["AssignPublicIp"]["Default"] == "DISABLED"
    target = props["Target"]
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    assert target["EcsParameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == {
        "Ref": "AssignPublicIp"
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}}


def branch(value: dict[str, Any], command: str) -> Any:
    """The branch of an `!If [UseWatch, …, …]` that Command=`command` selects."""
    condition, on_watch, on_checkpoint = value["Fn::If"]
    assert condition == "UseWatch"
    return on_watch if command == "watch" else on_checkpoint


def scheduled_commands(template: dict[str, Any], command: str = "checkpoint") -> dict[str, list[str]]:
    """The container command each trigger sends, parameters filled in and the time placeholder normalised."""
    schedule_input = branch(resource(template, "CheckpointSchedule")["Properties"]["Target"]["Input"], command)
    schedule_input = schedule_input["Fn::Sub"]
    rule_target = resource(template, "ClassicRule")["Properties"]["Targets"][0]
    assert rule_target["InputTransformer"]["InputPathsMap"] == {"time": "$.time"}
    rule_input = branch(rule_target["InputTransformer"]["InputTemplate"], command)["Fn::Sub"]
    commands = {}
    for name, text, placeholder in (
        ("scheduler", schedule_input, "<aws.scheduler.scheduled-time>"),
        ("events-rule", rule_input, "<time>"),
    ):
        assert placeholder in text
        overrides = json.loads(fill(text, SAMPLE).replace(placeholder, "2026-11-22T14:05:00Z"))
        [override] = overrides["containerOverrides"]
        assert override["name"] == CONTAINER
        commands[name] = override["command"]
    return commands


def test_both_triggers_send_the_same_command_with_a_per_feature_run_key(template: dict[str, Any]) -> None:
    commands = scheduled_commands(template)
    assert commands["scheduler"] == commands["events-rule"]
    args = build_parser().parse_args(commands["scheduler"])
    assert (args.command, args.feature, args.phase, args.label, args.source) == (
        "checkpoint",
        "passenger_favorites_matching",
        "5pct",
        "hourly",
        "insights",
    )
    # Run keys are unique across features and phases: two stacks firing at the same minute never collide.
    assert args.run_key == "passenger_favorites_matching|5pct|hourly|2026-11-22T14:05:00Z"


@pytest.mark.parametrize("mode", ["watch", "checkpoint"])
def test_default_task_command_is_the_scheduled_one_without_run_key(template: dict[str, Any], mode: str) -> None:
    parts = branch(container(template)["Command"], mode)
    command = [fill(part, SAMPLE) if isinstance(part, str) else SAMPLE[part["Ref"]] for part in parts]
    scheduled = scheduled_commands(template, mode)["scheduler"]
    at = scheduled.index("--run-key")
    assert command == scheduled[:at] + scheduled[at + 2 :]


def test_the_schedule_runs_watch_by_default_with_a_run_key_per_schedule_time(template: dict[str, Any]) -> None:
    assert template["Parameters"]["Command"]["Default"] == "watch"
    assert template["Parameters"]["Command"]["AllowedValues"] == ["watch", "checkpoint"]
    assert template["Parameters"]["FeatureKey"]["Default"] == ""  # optional with watch
    commands = scheduled_commands(template, "watch")
    assert commands["scheduler"] == commands["events-rule"]
    args = build_parser().parse_args(commands["scheduler"])
    assert (args.command, args.label, args.source, args.feature) == ("watch", "hourly", "insights", [])
    # the CLI scopes it per feature+phase (feature|phase|watch|hourly|time): flags never share a run key
    assert args.run_key == "watch|hourly|2026-11-22T14:05:00Z"


@pytest.mark.parametrize("name", ["CheckpointFailedAlarm", "CheckpointMissingAlarm", "PhaseLogAppendFailedAlarm"])
def test_per_feature_alarms_exist_whenever_a_feature_is_named(template: dict[str, Any], name: str) -> None:
    assert resource(template, name)["Condition"] == "HasFeature"
    assert template["Conditions"]["HasFeature"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FeatureKey"}, ""]}]}


def test_one_alarm_watches_the_worst_status_over_every_flag(template: dict[str, Any]) -> None:
    from monitor.notify import WORST_STATUS

    alarm = resource(template, "WorstStatusFailedAlarm")
    assert alarm["Condition"] == "UseWatch"
    props = alarm["Properties"]
    namespace = Settings.model_fields["metric_namespace"].default
    assert (props["Namespace"], props["MetricName"]) == (namespace, WORST_STATUS)
    assert "Dimensions" not in props  # one series for every flag
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Maximum",
        2,
        "GreaterThanOrEqualToThreshold",
    )
    assert props["AlarmActions"] == [{"Ref": "AlertTopic"}] == props["OKActions"]
    missing = resource(template, "WatchMissingAlarm")["Properties"]
    assert (missing["MetricName"], missing["Statistic"], missing["TreatMissingData"]) == (
        WORST_STATUS,
        "SampleCount",
        "breaching",
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("passenger_favorites_matching", id="snake-case"),
        pytest.param("phase2.rollout-5", id="dots-and-hyphens"),
        pytest.param("5pct", id="leading-digit"),
        pytest.param("1%", id="percent-sign"),
        pytest.param("-x", id="leading-hyphen"),
        pytest.param('x", "--dry-run', id="json-injection"),
        pytest.param("a b", id="space"),
        pytest.param("x" * 101, id="too-long"),
    ],
)
def test_template_accepts_exactly_the_names_the_cli_accepts(template: dict[str, Any], name: str) -> None:
    for parameter in ("FeatureKey", "PhaseName"):
        accepted_by_template = re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], name) is not None
        try:
            build_parser().parse_args(["checkpoint", name, name, "hourly"])
            accepted_by_cli = True
        except SystemExit:
            accepted_by_cli = False
        assert accepted_by_template == accepted_by_cli, (parameter, name)


@pytest.mark.parametrize("name", ["CheckpointFailedAlarm", "CheckpointMissingAlarm"])
def test_checkpoint_alarms_watch_the_feature_only_series(template: dict[str, Any], name: str) -> None:
    """With PhaseName=auto the job publishes phase=rollout-5pct etc., never "auto": alarms on the feature alone."""
    alarm = resource(template, name)["Properties"]
    namespace = Settings.model_fields["metric_namespace"].default
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, "CheckpointStatus")
    assert alarm["Dimensions"] == [{"Name": "feature", "Value": {"Ref": "FeatureKey"}}]
    assert not mentions(alarm, "PhaseName")
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_failed_alarm_fires_on_a_fail_checkpoint(template: dict[str, Any]) -> None:
    alarm = resource(template, "CheckpointFailedAlarm")["Properties"]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        2,
        "GreaterThanOrEqualToThreshold",
    )


def test_append_failed_alarm_fires_when_a_phase_log_entry_could_not_be_written(template: dict[str, Any]) -> None:
    """A PASS whose append failed exits 1, which no task-stop rule reports: this alarm is what tells someone."""
    from monitor.notify import APPEND_FAILED

    alarm = resource(template, "PhaseLogAppendFailedAlarm")["Properties"]
    namespace = Settings.model_fields["metric_namespace"].default
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, APPEND_FAILED)
    assert alarm["Dimensions"] == [{"Name": "feature", "Value": {"Ref": "FeatureKey"}}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] == alarm["OKActions"]


def test_dead_letter_alarm_counts_messages_sent(template: dict[str, Any]) -> None:
    # Visible messages stay until the queue is purged: the alarm would sit in ALARM and never fire again.
    alarm = resource(template, "TriggerDeadLetterAlarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/SQS", "NumberOfMessagesSent", "Sum")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    queue = {"Fn::GetAtt": ["TriggerDeadLetterQueue", "QueueName"]}
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue}]
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


# ---- alert topic: encrypted with a key the alarms and EventBridge may use ------------------------------------------


def test_alert_topic_is_encrypted_with_a_key_alarms_and_eventbridge_may_use(template: dict[str, Any]) -> None:
    assert resource(template, "AlertTopic")["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key = resource(template, "AlertTopicKey")["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = {
        service: set(as_list(s["Action"]))
        for s in key["KeyPolicy"]["Statement"]
        if s["Effect"] == "Allow" and "Service" in s["Principal"]
        for service in as_list(s["Principal"]["Service"])
    }
    # The SNS documentation's statement for AWS services publishing to an encrypted topic.
    assert grants == {
        "cloudwatch.amazonaws.com": {"kms:GenerateDataKey*", "kms:Decrypt"},
        "events.amazonaws.com": {"kms:GenerateDataKey*", "kms:Decrypt"},
    }
    [admin] = [s for s in key["KeyPolicy"]["Statement"] if "AWS" in s["Principal"]]
    assert mentions(admin["Principal"]["AWS"], "AWS::AccountId")  # this account administers its key


def test_topic_policy_lets_the_alarms_and_this_stacks_rule_publish(template: dict[str, Any]) -> None:
    policy = resource(template, "AlertTopicPolicy")["Properties"]
    assert policy["Topics"] == [{"Ref": "AlertTopic"}]
    statements = {s["Principal"]["Service"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for statement in statements.values():
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
            "Allow",
            "sns:Publish",
            {"Ref": "AlertTopic"},
        )
    assert statements["cloudwatch.amazonaws.com"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert statements["events.amazonaws.com"]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["TaskStoppedRule", "Arn"]}}
    }


def test_the_job_may_use_the_topic_key_to_publish(template: dict[str, Any]) -> None:
    [kms] = [s for s in role_statements(template, "TaskRole") if as_list(s["Action"])[0].startswith("kms:")]
    assert set(as_list(kms["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert kms["Resource"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}


# ---- abnormal task stops → SNS ---------------------------------------------------------------------------------

STACK = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "bm",
    "FeatureKey": "passenger_favorites_matching",
}


def resolve(value: Any) -> Any:
    """A property as CloudFormation passes it on (stack "bm"): Fn::Sub of these names filled in."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: STACK[m.group(1)], value["Fn::Sub"])
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


@pytest.fixture(scope="module")
def task_stopped_pattern(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = resolve(resource(template, "TaskStoppedRule")["Properties"]["EventPattern"])
    return found


@pytest.mark.parametrize(
    ("event", "alerts"),
    [
        pytest.param(task_state_event(exit_code=3), True, id="exit-3-no-checkpoint"),
        pytest.param(task_state_event(exit_code=0), False, id="exit-0-pass"),
        pytest.param(task_state_event(exit_code=1), False, id="exit-1-warn"),
        pytest.param(task_state_event(exit_code=2), False, id="exit-2-fail-is-a-result"),
        pytest.param(
            task_state_event(exit_code=137, reason="OutOfMemoryError: Container killed due to memory usage"),
            True,
            id="out-of-memory",
        ),
        pytest.param(task_state_event(exit_code=143), True, id="sigterm"),
        pytest.param(
            task_state_event(
                stop_code="TaskFailedToStart",
                stopped_reason="CannotPullContainerError: pull image manifest has been retried",
            ),
            True,
            id="image-pull-failure",
        ),
        pytest.param(
            task_state_event(
                stop_code="TaskFailedToStart", stopped_reason="ResourceInitializationError: unable to pull secrets"
            ),
            True,
            id="secret-failure",
        ),
        pytest.param(
            task_state_event(stop_code="UserInitiated", stopped_reason="Task stopped by user"),
            True,
            id="stopped-before-any-exit-code",
        ),
        pytest.param(task_state_event(exit_code=3, last_status="RUNNING"), False, id="not-stopped"),
        pytest.param(task_state_event(exit_code=3, family="beta-monitor-bm2"), False, id="another-stacks-family"),
        pytest.param(task_state_event(exit_code=3, family="backend"), False, id="another-service"),
        pytest.param({**task_state_event(exit_code=3), "source": "aws.batch"}, False, id="another-source"),
    ],
)
def test_task_stopped_rule_matches_abnormal_stops_only(
    task_stopped_pattern: dict[str, Any], event: dict[str, Any], alerts: bool
) -> None:
    assert matches(task_stopped_pattern, event) is alerts


def test_task_stopped_rule_notifies_the_alert_topic(template: dict[str, Any]) -> None:
    rule = resource(template, "TaskStoppedRule")["Properties"]
    assert rule["State"] == "ENABLED"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": "AlertTopic"}
    # The message is JSON once EventBridge puts the event in (it escapes nothing taken by a path: only the whole
    # event, which is JSON itself, is inserted).
    text = resolve(target["InputTransformer"]["InputTemplate"])
    message = json.loads(text.replace("<aws.events.event>", json.dumps(task_state_event(exit_code=3))))
    assert message["event"]["detail"]["containers"][0]["exitCode"] == 3 and message["logs"] == "/beta-monitor/bm"


# ---- the container and the task ----------------------------------------------------------------------------------


def test_container_runs_with_an_init_process_no_capabilities_and_a_stop_timeout(template: dict[str, Any]) -> None:
    box = container(template)
    assert box["ReadonlyRootFilesystem"] is True
    assert box["LinuxParameters"] == {"InitProcessEnabled": True, "Capabilities": {"Drop": ["ALL"]}}
    assert 10 <= box["StopTimeout"] <= 120  # Fargate's maximum is 120 s
    assert box["MountPoints"] == [{"SourceVolume": "tmp", "ContainerPath": "/tmp"}]  # the image's VOLUME


def test_bucket_expires_noncurrent_phase_log_versions(template: dict[str, Any]) -> None:
    rules = resource(template, "PhaseLogBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    [rule] = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule and "Filter" not in rule
    assert 1 <= rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 90


# AWS's table of Fargate task sizes for Linux (CPU units → memory MiB), as far as these parameters go.
FARGATE_MEMORY = {
    "256": {"512", "1024", "2048"},
    "512": {str(m) for m in range(1024, 4097, 1024)},
    "1024": {str(m) for m in range(2048, 8193, 1024)},
    "2048": {str(m) for m in range(4096, 16385, 1024)},
}


def rule_accepts(rule: dict[str, Any], values: dict[str, str]) -> bool:
    """What CloudFormation does with a Rules entry, for the functions this template uses (Equals, Contains)."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return values[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Fn::Equals"}:
            left, right = (value(n) for n in node["Fn::Equals"])
            return left == right
        if isinstance(node, dict) and set(node) == {"Fn::Not"}:
            return not value(node["Fn::Not"][0])
        if isinstance(node, dict) and set(node) == {"Fn::Contains"}:
            options, item = (value(n) for n in node["Fn::Contains"])
            return item in options
        if isinstance(node, list):
            return [value(n) for n in node]
        assert not isinstance(node, dict), node
        return node

    if "RuleCondition" in rule and not value(rule["RuleCondition"]):
        return True
    return all(value(assertion["Assert"]) for assertion in rule["Assertions"])


def test_rules_accept_exactly_the_fargate_cpu_memory_pairs(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for cpu in parameters["TaskCpu"]["AllowedValues"]:
        for memory in parameters["TaskMemory"]["AllowedValues"]:
            values = {"TaskCpu": cpu, "TaskMemory": memory}
            accepted = all(rule_accepts(rule, values) for rule in fargate_rules(template))
            assert accepted is (memory in FARGATE_MEMORY[cpu]), values
    defaults = {name: parameters[name]["Default"] for name in ("TaskCpu", "TaskMemory")}
    assert all(rule_accepts(rule, defaults) for rule in fargate_rules(template))


def fargate_rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for name, rule in template["Rules"].items() if name.startswith("Fargate")]


@pytest.mark.parametrize(
    ("command", "feature", "accepted"),
    [("watch", "", True), ("watch", "f1", True), ("checkpoint", "f1", True), ("checkpoint", "", False)],
)
def test_only_a_checkpoint_stack_needs_a_feature(
    template: dict[str, Any], command: str, feature: str, accepted: bool
) -> None:
    rule = template["Rules"]["CheckpointNeedsAFeature"]
    assert rule_accepts(rule, {"Command": command, "FeatureKey": feature}) is accepted
