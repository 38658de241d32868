"""The paper's configs at the paper's size on one CPU: ``slicevlm rehearse`` / ``make rehearse-full``.

:mod:`slicevlm.rehearsal.weights` writes random-weight model folders; :mod:`slicevlm.rehearsal.run`
runs and checks every phase (training both stages, crash and resume, export, answers, the server);
:mod:`slicevlm.rehearsal.processes` measures each phase's wall time and peak memory.
"""

from slicevlm.rehearsal.run import main, rehearse

__all__ = ["main", "rehearse"]
