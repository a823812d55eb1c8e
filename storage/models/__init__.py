"""Every mapped table; importing this package registers them all on `Base.metadata`."""

from storage.models.api_token import TOKEN_ROLES, ApiToken
from storage.models.base import Base
from storage.models.exec_log import EXEC_STATUSES, ExecLog
from storage.models.outbox import OutboxMessage
from storage.models.rule import Rule
from storage.models.rule_revision import RULE_ACTIONS, RuleRevision
from storage.models.script_api import ScriptApi
from storage.models.script_api_revision import SCRIPT_API_ACTIONS, ScriptApiRevision
from storage.models.silence import Silence

__all__ = [
    "EXEC_STATUSES",
    "RULE_ACTIONS",
    "SCRIPT_API_ACTIONS",
    "TOKEN_ROLES",
    "ApiToken",
    "Base",
    "ExecLog",
    "OutboxMessage",
    "Rule",
    "RuleRevision",
    "ScriptApi",
    "ScriptApiRevision",
    "Silence",
]
