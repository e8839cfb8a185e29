"""`beta-monitor doctor`: the deployment checked against the real account (`service.run_doctor`), one PASS / FAIL /
SKIP line per probe (`report.DoctorReport`)."""

from monitor.doctor.report import DoctorReport, Probe
from monitor.doctor.service import DoctorRequest, DoctorTargets, run_doctor

__all__ = ["DoctorReport", "DoctorRequest", "DoctorTargets", "Probe", "run_doctor"]
