"""Finding photos: the query language, the declared filters, the searcher and its
ranking (adaptive cutoff, negatives, stacks), duplicates, labels and albums.
"""
