"""The one error type of the SPC engine.

Every bad input (NaN, infinity, empty subgroup, too many measurements, negative or oversized
counts, a zero or undefined sigma, bad rule parameters) raises :class:`SPCError` with a
message naming the problem, so the API layer can turn it into a 400/422 without guessing.
"""


class SPCError(ValueError):
    """Invalid input or an undefined statistic in the SPC engine."""
