"""Demo material: a deterministic synthetic multitrack song generator.

>>> from snc.demo import synthesize_song
>>> song = synthesize_song(duration=2.0, seed=1)
>>> sorted(song.stems)
['bass', 'drums', 'other', 'vocals']
"""

from .synth import STEM_NAMES, Song, read_wav, synthesize_song

__all__ = ["STEM_NAMES", "Song", "read_wav", "synthesize_song"]
