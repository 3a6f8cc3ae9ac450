"""The doctor's fault benchmark: injected faults and healthy runs on the reference models, scored
for the doctor and two baseline doctors (``python bench/faults/run.py --tier smoke``)."""
