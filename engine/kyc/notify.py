"""The KYC values every notification template may use as `{{ kyc.x }}`."""

from __future__ import annotations

from engine.kyc.service import notification_context
from engine.notifications.service import template_values

template_values("kyc")(notification_context)
