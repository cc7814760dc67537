"""Library scale: many songs encoded in one run, resumable (issue 19).

:func:`encode_many` runs :class:`EncodeJob` s on any ``concurrent.futures``-style executor and yields results as
they complete; :class:`Journal` records finished songs in the output folder so that a rerun skips them;
:mod:`.jobs` makes the jobs from folders of audio or from a manifest.  ``snc-encode IN... -O OUTDIR`` is the
command line over it.
"""

from .jobs import EncodeJob, jobs_from_manifest, jobs_from_paths
from .journal import Journal
from .runner import BatchResult, encode_many, plan

__all__ = ["BatchResult", "EncodeJob", "Journal", "encode_many", "jobs_from_manifest", "jobs_from_paths", "plan"]
