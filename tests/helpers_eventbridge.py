"""EventBridge event patterns evaluated offline (moto implements no TestEventPattern), and sample ECS events.

`matches` follows the documented semantics for what our patterns use: every field of the pattern must match (AND);
the values listed for a field are alternatives (OR); an event array matches when any element does, and a path
through an array of objects collects that field from every element; `$or` takes any of its sub-patterns; `prefix`,
`anything-but` (a value or a list of values), `numeric` and `exists` as in "Content filtering in Amazon EventBridge
event patterns". A field missing from the event matches only `{"exists": false}`.
"""

from __future__ import annotations

import operator
from typing import Any

MISSING: list[Any] = []
NUMERIC = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt}


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, wanted in pattern.items():
        if key == "$or":
            if not any(matches(branch, event) for branch in wanted):
                return False
        elif isinstance(wanted, dict):
            if not matches(wanted, _step(event, key)):
                return False
        elif not _leaf_matches(wanted, _values(_step(event, key))):
            return False
    return True


def _step(node: Any, key: str) -> Any:
    """node[key], mapped over arrays of objects (a path through an array reaches every element)."""
    if isinstance(node, list):
        return [found for item in node for found in as_list(_step(item, key)) if found is not MISSING]
    if isinstance(node, dict) and key in node:
        return node[key]
    return MISSING


def _values(node: Any) -> list[Any]:
    if node is MISSING:
        return []
    return [v for v in as_list(node) if not isinstance(v, dict)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _leaf_matches(alternatives: list[Any], values: list[Any]) -> bool:
    return any(_matcher_matches(matcher, values) for matcher in alternatives)


def _matcher_matches(matcher: Any, values: list[Any]) -> bool:
    if not isinstance(matcher, dict):
        return matcher in values
    [(name, argument)] = matcher.items()
    if name == "exists":
        return bool(values) is argument
    return any(_one(name, argument, value) for value in values)


def _one(name: str, argument: Any, value: Any) -> bool:
    if name == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if name == "anything-but":
        return value not in as_list(argument)
    if name == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        pairs = zip(argument[::2], argument[1::2], strict=True)
        return all(NUMERIC[op](value, bound) for op, bound in pairs)
    raise AssertionError(f"matcher {name!r} is not evaluated here: extend helpers_eventbridge")


def task_state_event(
    *,
    exit_code: int | None = None,
    stop_code: str = "EssentialContainerExited",
    stopped_reason: str = "Essential container in task exited",
    reason: str | None = None,
    last_status: str = "STOPPED",
    family: str = "beta-monitor-bm",
    revision: int = 7,
) -> dict[str, Any]:
    """An "ECS Task State Change" event of a Fargate task with one container (the shape of the ECS documentation's
    example): no exitCode when the container never ran."""
    prefix = "arn:aws:ecs:eu-west-1:123456789012"
    box: dict[str, Any] = {
        "containerArn": f"{prefix}:container/bm/0123456789abcdef/1a2b3c4d",
        "lastStatus": "STOPPED" if last_status == "STOPPED" else "RUNNING",
        "name": "beta-monitor",
        "taskArn": f"{prefix}:task/bm/0123456789abcdef",
    }
    if exit_code is not None:
        box["exitCode"] = exit_code
    if reason is not None:
        box["reason"] = reason
    detail: dict[str, Any] = {
        "clusterArn": f"{prefix}:cluster/bm",
        "containers": [box],
        "desiredStatus": "STOPPED",
        "group": f"family:{family}",
        "launchType": "FARGATE",
        "lastStatus": last_status,
        "taskArn": box["taskArn"],
        "taskDefinitionArn": f"{prefix}:task-definition/{family}:{revision}",
    }
    if last_status == "STOPPED":
        detail |= {"stopCode": stop_code, "stoppedReason": stopped_reason}
    return {
        "version": "0",
        "id": "3317b2af-7005-947d-b652-f55e762e571a",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-22T14:06:12Z",
        "region": "eu-west-1",
        "resources": [box["taskArn"]],
        "detail": detail,
    }
