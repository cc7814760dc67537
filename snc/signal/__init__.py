"""Signal code shared by encoding, decoding and rendering: audio file input (:mod:`.audio_io`) and
output (:mod:`.audio_out`), speaker layouts (:mod:`.layouts`), the STFT (:mod:`.stft`), the exact
integer mix (:mod:`.mixing`) and BS.1770 loudness (:mod:`.loudness`).  Nothing here knows the
container, the codecs, the encoder or the renderer."""
