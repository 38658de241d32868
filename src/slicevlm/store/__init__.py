"""Resumable output files: one JSONL store and one run record for every writer.

- :mod:`~slicevlm.store.jsonl`: crash-safe JSONL (repair a cut last line, read, append with fsync)
- :mod:`~slicevlm.store.run_record`: :class:`RunRecord`, what wrote a file's rows (trained weights'
  SHA-256, generation settings, checkpoint folder) and how a change is described
- :mod:`~slicevlm.store.resumable`: :class:`ResumableJsonl`, a JSONL file with its ``<stem>.run.json``;
  it refuses to resume rows another run wrote

``PredictionWriter`` (``lightning-cli test/predict``, ``slicevlm reproduce``) and ``slicevlm
ask-batch`` both write through it. Torch-free: it sits below every face that writes answers.
"""
