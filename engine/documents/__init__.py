"""Client document files: stored once with their metadata and content hash, on the local
filesystem (embedded) or in an S3-compatible bucket (distributed), never at a guessable URL."""
