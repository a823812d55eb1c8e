"""Repositories: compose statements on a caller's session and flush; the unit of work commits."""

from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.rules import RuleRepository
from storage.repositories.script_apis import ScriptApiRepository

__all__ = ["ExecLogRepository", "RuleRepository", "ScriptApiRepository"]
