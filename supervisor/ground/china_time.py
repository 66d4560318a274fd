"""China Standard Time: the province's clock for schedules, periods and what people read."""

from __future__ import annotations

from zoneinfo import ZoneInfo

__all__ = ["PROVINCE_ZONE"]

#: The province's time zone (UTC+08:00 all year; China keeps no daylight saving).
PROVINCE_ZONE = ZoneInfo("Asia/Shanghai")
