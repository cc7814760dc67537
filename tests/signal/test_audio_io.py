"""Reading audio sources: memory-mapped signals streamed without holding them."""

from __future__ import annotations


def test_released_pages_of_a_memory_mapped_signal_keep_their_data(tmp_path):
    """release_pages unmaps what a stream has read or written (memory stays flat over a long mapped
    signal); the data stays in the file, dirty pages included."""
    import numpy as np

    from snc.signal.audio_io import AudioFormat, AudioSource, NativeAudio, release_pages

    arr = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.int32, shape=(300_000, 2))
    want = np.random.default_rng(0).integers(-30000, 30000, arr.shape).astype(np.int32)
    for a in range(0, len(arr), 65536):
        arr[a:a + 65536] = want[a:a + 65536]
        release_pages(arr, a, a + 65536)  # dirty, unmapped: must still reach the file
    fmt = AudioFormat(44100, 2, "int", 16)
    src = AudioSource(NativeAudio(arr, fmt), name="x")
    got = np.concatenate([src.read(100_000, fmt) for _ in range(3)])
    assert np.array_equal(got, want)
    assert np.array_equal(np.load(tmp_path / "x.npy"), want)
    release_pages(want, 0, 10)  # not mapped: nothing to do
