"""The render layer: everything that depends on a listener, built on the decode layer (:mod:`snc.decode`).

:mod:`.file` (:class:`SncFile`, what ``snc.open`` returns), :mod:`.remix` (the remix rule: gains, mute/solo,
how the residual follows), :mod:`.attribution` (the residual per time-frequency tile), :mod:`.options`
(:class:`RenderOptions`), :mod:`.request` (options resolved against a file), :mod:`.renderer` (``render``,
``render_blocks``), :mod:`.player` and :mod:`.prefetch` (streaming with live changes), :mod:`.profiles`,
:mod:`.dynamics` (EQ, compressor, limiter), :mod:`.spatial` (speaker layouts, binaural) and :mod:`.measure`
(the profiles' loudness measured at encode).
"""
