"""The cloudwatch source: CloudWatch `get-metric-data` / `get-metric-statistics` JSON and the
console's CSV download: instance and volume metrics (CPUUtilization, VolumeQueueLength,
BurstBalance ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.cloudwatch import ParsedCloudWatch  # noqa: F401 (the base class names it as a string)


class CloudWatchSource(ConventionalSource["ParsedCloudWatch"]):
    """CloudWatch `get-metric-data` / `get-metric-statistics` JSON and the console's CSV download:
    instance and volume metrics (CPUUtilization, VolumeQueueLength, BurstBalance ...)."""

    name: ClassVar[str] = "cloudwatch"
    label: ClassVar[str] = "a CloudWatch metrics export"


SOURCE = CloudWatchSource()
