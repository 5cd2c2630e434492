"""Reading and writing `quietday.instance/1` and `quietday.solution/1` (JSON, UTF-8).

Reading collects every problem before it gives up, each with a stable code, the record's path
and id, and a Chinese message, e.g. `inspections[17] (P-000018): latest 2026-07-01 早于 earliest
2026-07-05`; nothing is solved from a document with any problem, its pins included. Writing is
deterministic: one record per line, keys in a fixed order.
"""

from quietday.formats.instance import (
    INSTANCE_FORMAT,
    dump_instance,
    instance_to_dict,
    load_instance,
    parse_instance,
    pin_problems,
    write_instance,
)
from quietday.formats.solution import (
    SOLUTION_FORMAT,
    dump_solution,
    load_solution,
    parse_solution,
    solution_to_dict,
    write_solution,
)

__all__ = [
    "INSTANCE_FORMAT",
    "SOLUTION_FORMAT",
    "dump_instance",
    "dump_solution",
    "instance_to_dict",
    "load_instance",
    "load_solution",
    "parse_instance",
    "parse_solution",
    "pin_problems",
    "solution_to_dict",
    "write_instance",
    "write_solution",
]
