"""The states of the service's records, one vocabulary for every layer (queries included)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ComplaintStatus", "PartState", "PlanStatus", "RunStage", "RunStatus", "VisitStatus"]


class PlanStatus(StrEnum):
    """检查计划的状态: submitted 待排期、published 已发布(在一次入企中)、unscheduled 未排上、
    cancelled 已撤销。"""

    SUBMITTED = "submitted"
    PUBLISHED = "published"
    UNSCHEDULED = "unscheduled"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """排期运行的状态: queued 排队中、running 运行中、succeeded 已完成、failed 失败、cancelled 已取消、
    published 已发布。"""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PUBLISHED = "published"


class RunStage(StrEnum):
    """排期运行进行到哪一步: queued 排队、build 读取计划构建实例、solve 求解、check 校验、store 保存结果、
    done 结束(成功、失败或取消)。"""

    QUEUED = "queued"
    BUILD = "build"
    SOLVE = "solve"
    CHECK = "check"
    STORE = "store"
    DONE = "done"


class VisitStatus(StrEnum):
    """入企(一次入企)的状态: published 已发布、cancelled 已取消(其中已没有检查计划)。"""

    PUBLISHED = "published"
    CANCELLED = "cancelled"


class PartState(StrEnum):
    """One job of a run solved on the queue."""

    TODO = "todo"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ComplaintStatus(StrEnum):
    """企业投诉的状态: pending 待处理、handling 处理中、closed 已办结(只向前: 待处理可直接办结)。"""

    PENDING = "pending"
    HANDLING = "handling"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"pending": "待处理", "handling": "处理中", "closed": "已办结"}[self.value]
