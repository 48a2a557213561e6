"""Photos as files: the file-type registry, decoding (in-process and in a killable
child process), EXIF metadata and perceptual hashes.  Depends on nothing else in the core.
"""
