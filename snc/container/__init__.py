"""The ``.snc`` container: the construct schema that is the single source of truth for the bytes
(:mod:`.schema`, described by ``spec/snc-format.md``), the file and stream descriptions (:mod:`.model`),
the bounded reader (:mod:`.reader`), the streaming writer (:mod:`.writer`) and the content hashes
(:mod:`.hashing`)."""
