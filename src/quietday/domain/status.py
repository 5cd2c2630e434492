"""The states of the service's records, one vocabulary for every layer (queries included)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CheckOutcome",
    "ComplaintStatus",
    "PartState",
    "PlanStatus",
    "RunStage",
    "RunStatus",
    "VisitStatus",
]


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


class CheckOutcome(StrEnum):
    """抽查结果(一公开,全国双随机平台的分类): no_problem 未发现问题、corrected 已责令改正、
    case_filed 已立案查处、transferred 已移送有关部门、unreachable 无法联系、not_operating
    未发现相关经营活动、closed 已关闭停业或注销、refused 不配合检查。"""

    NO_PROBLEM = "no_problem"
    CORRECTED = "corrected"
    CASE_FILED = "case_filed"
    TRANSFERRED = "transferred"
    UNREACHABLE = "unreachable"
    NOT_OPERATING = "not_operating"
    CLOSED = "closed"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS = {
    CheckOutcome.NO_PROBLEM: "未发现问题",
    CheckOutcome.CORRECTED: "发现问题,已责令改正",
    CheckOutcome.CASE_FILED: "发现问题,已立案查处",
    CheckOutcome.TRANSFERRED: "发现问题,已移送有关部门",
    CheckOutcome.UNREACHABLE: "通过登记的住所(经营场所)无法联系",
    CheckOutcome.NOT_OPERATING: "未发现开展本次抽查涉及的经营活动",
    CheckOutcome.CLOSED: "已关闭、停业或注销",
    CheckOutcome.REFUSED: "不配合检查",
}
