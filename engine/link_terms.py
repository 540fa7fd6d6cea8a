"""The 15 monomials of the MRI/US polynomial link, in the fusion's order (no heavy imports).

(power of x, power of g) for 1, x, x^2, x^3, x^4, g, gx, gx^2, gx^3, g^2, g^2x, g^2x^2, g^3,
g^3x, g^4, with x the MRI intensity and g its gradient magnitude (El Mansouri et al. 2020).
"""

MONOMIALS: tuple[tuple[int, int], ...] = (
    (0, 0), (1, 0), (2, 0), (3, 0), (4, 0),
    (0, 1), (1, 1), (2, 1), (3, 1),
    (0, 2), (1, 2), (2, 2),
    (0, 3), (1, 3),
    (0, 4),
)  # fmt: skip
