"""Experiments as cells: one crash-safe store, one results document, one provenance block.

An experiment is a list of cells (a JSON-able config, hashed into the cell id, and a function that
returns the cell's record). :func:`run_cells` runs the cells a :class:`CellStore` does not hold yet,
so every benchmark, CLI study and report resumes the same way; :func:`write_results` /
:func:`read_results` are the one writer and reader of results files, and
:mod:`emblab.experiment.markdown` renders them with the provenance footer.
"""

from .provenance import environment, environment_lines
from .results import SCHEMA, Results, TaskResult, read_results, results_document, write_results
from .store import CellStore, cell_id, fitted_model, run_cells

__all__ = ["CellStore", "cell_id", "fitted_model", "run_cells", "Results", "TaskResult", "SCHEMA",
           "read_results", "results_document", "write_results", "environment", "environment_lines"]
