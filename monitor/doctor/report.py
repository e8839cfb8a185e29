"""What `beta-monitor doctor` found: one PASS / FAIL / SKIP line per probe, the roll-up, and how an AWS failure is
said ("IAM: <action> denied on <resource> — add it to the task role")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.aws import aws_error

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
EXIT_PASS, EXIT_FAIL = 0, 2

# Error codes AWS answers a call the caller's policies do not allow with (per service: S3, most JSON APIs, SNS, EC2).
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "AuthorizationErrorException", "Forbidden", "403"}
)
# SNS publishing to a topic encrypted with a key the caller may not use.
KMS_DENIED = frozenset({"KMSAccessDenied", "KMSAccessDeniedException", "KMS.AccessDeniedException"})


@dataclass
class Probe:
    """One thing the doctor checked: its status, one line saying what was found, and figures for `--json`."""

    name: str
    status: str
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status, "detail": self.detail}
        if self.figures:
            data["figures"] = self.figures
        return data


@dataclass
class DoctorReport:
    probes: list[Probe] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, **figures: Any) -> Probe:
        probe = Probe(name, status, detail, figures)
        self.probes.append(probe)
        return probe

    @property
    def problems(self) -> list[Probe]:
        return [p for p in self.probes if p.status == FAIL]

    @property
    def status(self) -> str:
        return FAIL if self.problems else PASS

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.problems else EXIT_PASS

    def summary(self) -> str:
        count = len(self.problems)
        return "Doctor: PASS" if not count else f"Doctor: FAIL ({count} problem{'s' if count > 1 else ''})"

    def lines(self) -> list[str]:
        return [*(p.line() for p in self.probes), self.summary()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "problems": len(self.problems),
            "probes": [p.to_dict() for p in self.probes],
        }


def aws_code(exc: BaseException) -> str:
    """The AWS error code of a failed call (or the botocore exception's name)."""
    return getattr(aws_error(exc, "call"), "code", None) or type(exc).__name__


def aws_failure(exc: BaseException, action: str, resource: str, hint: str = "") -> str:
    """One line for a failed call: a missing permission named as the IAM action and resource to grant, anything
    else as the AWS error (retries already spent)."""
    code = aws_code(exc)
    if code in DENIED:
        return f"IAM: {action} denied on {resource}{hint} — add it to the task role"
    if code in KMS_DENIED:
        return f"IAM: kms:GenerateDataKey and kms:Decrypt denied on the key of {resource} — add them to the task role"
    return str(aws_error(exc, f"{action} on {resource}"))
