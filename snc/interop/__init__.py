"""SNC files to and from the formats other tools read: NI Stems (``.stem.mp4``) for DJ software
(:mod:`.stems_mp4`), with the slot grouping and residual folding of :mod:`.slots` and the MP4 boxes of
:mod:`.mp4atoms`.  Needs PyAV (``pip install 'snc[export]'``), imported only when a file is written or read.
"""
