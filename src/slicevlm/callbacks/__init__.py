"""Lightning callbacks: generation metrics at validation, resumable prediction files at test/predict.

- :class:`GenerationEvaluator` — greedy generation on a fixed validation subset, m3d (or coco)
  metrics logged as ``val/bleu``, ``val/rouge``, ``val/meteor``, ``val/closed_acc``, ..., sample
  texts to TensorBoard.
- :class:`PredictionWriter` — predictions JSONL written incrementally (flush + fsync per batch),
  resumable after a crash via ``pl_module.skip_ids``, summary JSON + markdown at the end.
- :class:`ResumableCheckpoint` — ``ModelCheckpoint`` whose files (and DeepSpeed folders) are written
  atomically into a folder that a restarted run finds; ``--ckpt_path last`` resumes from it.
- :class:`LossTrace` — every optimiser step's training loss appended to a JSON-lines file.
- :class:`MemoryTrace` — the peak memory of each part of every optimiser step (forward, backward,
  optimiser, checkpoint saving) appended to a JSON-lines file.
"""

from slicevlm.callbacks.checkpointing import ResumableCheckpoint
from slicevlm.callbacks.generation import GenerationEvaluator
from slicevlm.callbacks.loss_trace import LossTrace
from slicevlm.callbacks.memory_trace import MemoryTrace
from slicevlm.callbacks.prediction_writer import PredictionWriter

__all__ = ["GenerationEvaluator", "LossTrace", "MemoryTrace", "PredictionWriter", "ResumableCheckpoint"]
