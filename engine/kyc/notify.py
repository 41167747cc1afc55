"""The KYC values every notification template may use as `{{ kyc.x }}`, on both processing paths."""

from __future__ import annotations

from engine.kyc import batch
from engine.kyc.service import NOTIFICATION_READS, notification_context
from engine.notifications.service import state_template_values, template_values

template_values("kyc")(notification_context)
# The same values in a set-based round (the KYC projection form's state, named "kyc").
state_template_values("kyc", form="kyc", client_reads=NOTIFICATION_READS)(batch.notification_values)
