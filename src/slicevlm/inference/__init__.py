"""Ask a trained checkpoint about a volume: no Trainer, no Lightning (STYLE "the house").

- :mod:`~slicevlm.inference.predictor`: :class:`VolumeQA` (load a checkpoint folder, answer one or
  many volumes) and its :class:`Answer`
- :mod:`~slicevlm.inference.volumes`: any readable volume → the checkpoint's input size
- :mod:`~slicevlm.inference.instructions`: questions, choices and report requests → instructions
  (``resolve_request``: the one "report, or a question with choices" rule)
- :mod:`~slicevlm.inference.records`: an answer → the JSON every face writes
- :mod:`~slicevlm.inference.generation_options`: ``--max-new-tokens`` / ``--engine`` → ``GenerationConfig``
- :mod:`~slicevlm.inference.explain`: kept slices and injection attention as arrays and a PNG
- :mod:`~slicevlm.inference.batch`: resumable CSV → JSONL answering (through :mod:`slicevlm.store`)
- :mod:`~slicevlm.inference.cli`: ``slicevlm ask | report | ask-batch``

The serving app (``slicevlm.serve``, ``lightning_app/``) builds on this package. Names load on first
use, so the web server's request process can validate input without importing torch.
"""

from __future__ import annotations

from slicevlm.lazy_exports import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "VolumeQA": "slicevlm.inference.predictor",
    "Answer": "slicevlm.inference.predictor",
    "Explanation": "slicevlm.inference.explain",
    "PreparedVolume": "slicevlm.inference.volumes",
    "InputError": "slicevlm.inference.errors",
    "question_instruction": "slicevlm.inference.instructions",
    "REPORT_INSTRUCTION": "slicevlm.inference.instructions",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
