"""Operator tools over an M3D data root: ``slicevlm check-data`` (:mod:`~slicevlm.tools.check`, with the
duplicate finder of :mod:`~slicevlm.tools.duplicates`) and ``slicevlm prepare-m3d``
(:mod:`~slicevlm.tools.prepare`)."""
