"""The permission mapping: Slack users, e-mails and user groups to view/start/stop/mute/ack.

Default deny; a failed lookup grants nothing (``AccessLookupError``).
"""

from __future__ import annotations

from chatops.config import PermissionRule
from chatops.domain.permission import Permission
from chatops.permissions.mapping import (
    PERMISSIONS,
    Access,
    AccessLookupError,
    PermissionResolver,
    covers,
    in_scope,
)

__all__ = [
    "PERMISSIONS",
    "Access",
    "AccessLookupError",
    "Permission",
    "PermissionResolver",
    "PermissionRule",
    "covers",
    "in_scope",
]
