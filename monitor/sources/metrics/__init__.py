"""The load balancer's own view of the window (CloudWatch metrics), a cross-check for data_quality."""

from monitor.sources.metrics.load_balancer import LoadBalancerMetrics

__all__ = ["LoadBalancerMetrics"]
