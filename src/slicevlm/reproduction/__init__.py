"""`slicevlm reproduce`: the paper's tables beside ours, one module per table.

- :mod:`~slicevlm.reproduction.command`: the command (options, the run over a table's rows and seeds)
- :mod:`~slicevlm.reproduction.table`: :class:`PaperTable`, what every table module provides
- :mod:`~slicevlm.reproduction.tables_2_to_4`: Tables 2, 3 and 4 (reports, open VQA, closed VQA): the full model
- :mod:`~slicevlm.reproduction.table8`: Table 8, one row per ablation
- :mod:`~slicevlm.reproduction.towers`: SliceVLM beside M3D-LaMed and Med3DVLM on one budget
- Table 6 (speed and size side by side) is a benchmark: :mod:`slicevlm.reproduction.table6`
- :mod:`~slicevlm.reproduction.inputs` / :mod:`~slicevlm.reproduction.evaluation`: checks of the data and
  checkpoints a run needs, and the evaluation of one checkpoint folder on the test split

The paper's numbers themselves are in :mod:`slicevlm.metrics.paper_tables`.
"""
