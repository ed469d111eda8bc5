"""The roofline in a report: roofline.png (archlab.report.plots.roofline) and the "Why" words of summary.md and of a
comparison's table.md (words.py), read from the fields archlab.profile.roofline fills."""
