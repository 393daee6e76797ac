"""Collaborative item and user vectors for the recommendation task (baselines_and_eval.md §2.5).

:mod:`.factors` learns them with the ``implicit`` library (ALS or BPR), chooses hyper-parameters
on a validation split and caches the result by content hash.
"""
