"""CloudWatch: the states of the alarms that gate a weighted traffic shift."""

from __future__ import annotations

from collections.abc import Sequence

from bluegreen.aws.base import BaseGateway


class CloudWatchCalls(BaseGateway):
    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        """Alarm name -> OK / ALARM / INSUFFICIENT_DATA, in one call.

        Names that do not exist are left out (AWS does not report them as an
        error), so callers compare the keys with what they asked for.
        """
        if not names:
            return {}
        r = self.call(
            "cloudwatch",
            "describe_alarms",
            AlarmNames=list(names),
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            MaxRecords=100,
        )
        alarms = list(r.get("MetricAlarms", [])) + list(r.get("CompositeAlarms", []))
        return {str(a["AlarmName"]): str(a["StateValue"]) for a in alarms}
