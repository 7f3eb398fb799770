"""A toy task family, made only of files in this package: it shows that a
family reaches the framework through one line per registry
(``icl.tasks.REGISTRY`` and ``icl.evaluators.REGISTRY``) and touches no
generic module."""

from tests.toy_family.evaluator import ConstantEvaluator
from tests.toy_family.task import ConstantTask

TASKS = {"constant": ConstantTask}
EVALUATORS = {"constant_error": ConstantEvaluator}
