"""`beta-monitor demo`: the rollout story (`story`) on simulated backend traffic (`traffic`).

The traffic model ships in the runtime package because the demo is a runtime command; the benchmarks and the tests
reuse it to produce realistic events.
"""

from monitor.cli.demo.story import run_demo

__all__ = ["run_demo"]
