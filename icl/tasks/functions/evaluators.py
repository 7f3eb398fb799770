"""The family's evaluators, by name (one line in ``icl.evaluators``)."""

from icl.tasks.functions.evaluate import FunctionsEvaluator
from icl.tasks.functions.shifts import SHIFTS
from icl.tasks.functions.uncertainty import UncertaintyEvaluator

EVALUATORS = {
    "functions": FunctionsEvaluator,
    "uncertainty": UncertaintyEvaluator,
    **SHIFTS,
}
