"""Synthetic MRI/US pair with ground truth: the built-in demo pair.

Made the way El Mansouri et al. (IEEE TIP 2020) simulate their pairs (and as the Data2/Data3 sets
were made), on a seeded T2-like pelvic slice:

1. **Tissue** x (size x size, the US grid, values in [0.12, 1]): a T2-like field of view inside
   the pelvis below the abdominal wall (subcutaneous fat, rectus muscle), with the bladder, the
   uterus (myometrium, dark junctional zone, bright endometrium, a small fibroid), an ovary with
   follicles, an endometrioma (cyst with a dark wall and T2 "shading", in ovarian stroma), a
   lobulated, spiculated deep endometriosis nodule between the uterus and the rectum, the rectum
   and a sigmoid loop, vessels, fat with fibrous septa, and smooth plus fine random texture.
   Positions, sizes, orientations, boundary shapes and textures are drawn from the seed.
2. **MRI** y_m = S H x + n_m: H a Gaussian blur with ``mri_blur_sigma`` = 4 US pixels and a
   17x17 support (radius 2 sigma, as MATLAB ``imgaussfilt`` used for Data2/3), with **symmetric**
   (mirror) borders so that the edges of this crop do not wrap around; S keeps rows and columns
   0, d, 2d, ...; n_m white Gaussian noise of std ``mri_noise_std`` = 0.02 (x's units).
3. **US** (log domain) y_u = f(x, g) + gamma log R: f the 15-term polynomial link in the fusion's
   monomial order (1, x, x^2, x^3, x^4, g, gx, gx^2, gx^3, g^2, g^2x, g^2x^2, g^3, g^3x, g^4) with
   g = |grad x| by forward differences, R Rayleigh with scale ``speckle_scale`` = 1, gamma =
   ``speckle_gamma`` = 0.15 (between Data2's 0.09 and Data3's 0.21). The coefficients are those of
   Data2 plus a constant gain c_1 = 1 (the offset of a scanner's log compression) that keeps the
   observed US positive: with x >= 0.12 a pixel turns negative only if log R < -1.12 / 0.15 =
   -7.5, probability e^-15 / 2 = 1.5e-7 per pixel.

   The forward differences here repeat the last row/column (difference 0 at the bottom/right
   border), unlike the fusion code's zero padding, which would paint a bright frame of g ~ x
   along those borders of the US. The noise-free US is ``clean_us = f(x, g)``.

Units: x, y_m and y_u are returned as they are (no scaling); ``fusion_input`` max-normalises.
Pixel spacing: 0.1 mm on the US grid, d x 0.1 mm on the MRI grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError
from .fusion import FusionInput
from .link_terms import MONOMIALS
from .scan import MIN_SIDE, Scan, ScanInfo

#: Data2's link (0, 1, 1e-4, -1e-5, 0, 1, 1e-3, 1e-5, 0, ...) with a constant gain of 1.
DEFAULT_LINK: tuple[float, ...] = (
    1.0, 1.0, 1e-4, -1e-5, 0.0, 1.0, 1e-3, 1e-5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
)  # fmt: skip

LINK_MONOMIALS = MONOMIALS

PATIENT_NAME = "PHANTOM^DEMO"


@dataclass(frozen=True)
class PhantomSettings:
    """How the observations are simulated from the tissue image (see module docstring)."""

    mri_blur_sigma: float = 4.0
    mri_noise_std: float = 0.02
    speckle_gamma: float = 0.15
    speckle_scale: float = 1.0
    link_coefficients: tuple[float, ...] = DEFAULT_LINK
    us_spacing_mm: float = 0.1


# ------------------------------------------------------------------------------ operators


def mri_blur(x: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """H x: sampled Gaussian of std ``sigma`` (radius round(2 sigma), normalised to sum 1),
    separable, with symmetric (half-sample mirror) borders."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma, mode="reflect", truncate=2.0)


def decimate(x: np.ndarray, d: int) -> np.ndarray:
    """S x: rows and columns 0, d, 2d, ..."""
    return x[::d, ::d]


def gradient_magnitude(x: np.ndarray) -> np.ndarray:
    """g = sqrt(Jx^2 + Jy^2), Jx(i, j) = x(i, j) - x(i, j+1), Jy likewise; 0 on the last column
    (row) instead of the fusion code's zero padding (see module docstring)."""
    jx = np.zeros_like(x)
    jy = np.zeros_like(x)
    jx[:, :-1] = x[:, :-1] - x[:, 1:]
    jy[:-1, :] = x[:-1, :] - x[1:, :]
    return np.sqrt(jx * jx + jy * jy)


def polynomial_link(x: np.ndarray, g: np.ndarray, coefficients) -> np.ndarray:
    """f(x, g) = sum_k c_k x^p_k g^q_k over :data:`LINK_MONOMIALS`."""
    c = np.asarray(coefficients, dtype=np.float64).ravel()
    if c.size != len(LINK_MONOMIALS):
        raise ParameterError(f"The link needs {len(LINK_MONOMIALS)} coefficients, got {c.size}.")
    out = np.zeros_like(x)
    for value, (p, q) in zip(c, LINK_MONOMIALS, strict=True):
        if value != 0.0:
            out += value * x**p * g**q
    return out


def log_rayleigh_speckle(
    rng: np.random.Generator, shape: tuple[int, int], gamma: float, scale: float = 1.0
) -> np.ndarray:
    """gamma * log(R), R ~ Rayleigh(scale): mean gamma (log scale + (ln 2 - euler_gamma) / 2),
    std gamma pi / sqrt(24)."""
    return gamma * np.log(rng.rayleigh(scale, size=shape))


# ------------------------------------------------------------------------------ tissue


class _Canvas:
    """Painter's-algorithm canvas in normalised coordinates (u right, v down, both in [0, 1)).

    Shapes are evaluated only inside their bounding box: a region is (row slice, column slice,
    signed distance on that window).
    """

    def __init__(self, size: int, background: np.ndarray) -> None:
        self.size = size
        centres = (np.arange(size) + 0.5) / size
        self.u = centres[None, :]
        self.v = centres[:, None]
        self.image = background
        #: edge half-width in normalised units: a partial-volume ramp about 1.5 pixels wide
        self.edge = 0.75 / size
        self.everywhere = (slice(0, size), slice(0, size))

    def coverage(self, signed_distance: np.ndarray) -> np.ndarray:
        """Fraction of a pixel inside (signed distance < 0), a linear ramp across the edge."""
        return np.clip(0.5 - signed_distance / (2 * self.edge), 0.0, 1.0)

    def paint(self, region, value) -> None:
        """Blend ``value`` (scalar or full-size array) into the image inside ``region``:
        a (rows, cols, signed distance) triple, or a full-size signed-distance array."""
        if isinstance(region, np.ndarray):
            rows, cols, distance = *self.everywhere, region
        else:
            rows, cols, distance = region
        mask = self.coverage(distance)
        if isinstance(value, np.ndarray):
            value = np.broadcast_to(value, self.image.shape)[rows, cols]
        window = self.image[rows, cols]
        self.image[rows, cols] = window + mask * (value - window)

    def _window(self, cu: float, cv: float, reach: float) -> tuple[slice, slice]:
        margin = reach + 4 * self.edge
        lo_r, hi_r = int((cv - margin) * self.size), int(np.ceil((cv + margin) * self.size))
        lo_c, hi_c = int((cu - margin) * self.size), int(np.ceil((cu + margin) * self.size))
        clamp = lambda k: min(max(k, 0), self.size)  # noqa: E731
        return slice(clamp(lo_r), clamp(hi_r)), slice(clamp(lo_c), clamp(hi_c))

    def ellipse(self, cu, cv, a, b, angle=0.0, lobes=()):
        """Region of an ellipse (semi-axes a, b, rotated by ``angle``), optionally with a radial
        modulation r(theta) = 1 + sum a_k cos(k theta + phi_k); approximate signed distance."""
        reach = max(a, b) * (1.0 + sum(abs(amp) for _, amp, _ in lobes))
        rows, cols = self._window(cu, cv, reach)
        cos, sin = np.cos(angle), np.sin(angle)
        du, dv = self.u[:, cols] - cu, self.v[rows, :] - cv
        p = (du * cos + dv * sin) / a
        q = (-du * sin + dv * cos) / b
        rho = np.sqrt(p * p + q * q) + 1e-12
        radius = 1.0
        if lobes:
            theta = np.arctan2(q, p)
            radius = 1.0 + sum(amp * np.cos(k * theta + phase) for k, amp, phase in lobes)
        # (rho - r) over the gradient norm of rho (~ 1/min(a, b) near the boundary)
        grad = np.sqrt((p / a) ** 2 + (q / b) ** 2) / rho
        return rows, cols, (rho - radius) / grad


def _smooth_field(
    rng: np.random.Generator,
    size: int,
    correlation: float,
    anisotropy: float = 1.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Unit-std Gaussian random field with a Gaussian spectrum; ``correlation`` in normalised
    units along the main axis, ``anisotropy`` shortens it across (>1 gives fibres)."""
    fu = np.fft.rfftfreq(size)[None, :] * size
    fv = np.fft.fftfreq(size)[:, None] * size
    cos, sin = np.cos(angle), np.sin(angle)
    along, across = fu * cos + fv * sin, -fu * sin + fv * cos
    spectrum = np.exp(-2 * (np.pi * correlation) ** 2 * (along**2 + (anisotropy * across) ** 2))
    # white noise drawn directly in the (half-plane) Fourier domain, then filtered
    shape = spectrum.shape
    coefficients = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    field = np.fft.irfft2(coefficients * spectrum, s=(size, size))
    return field / (field.std() + 1e-12)


def _random_lobes(rng: np.random.Generator, amplitude: float, orders=(2, 3, 4)) -> tuple:
    """Smooth random boundary deformation: (k, a_k, phi_k) with a_k ~ amplitude / k."""
    return tuple(
        (k, amplitude * rng.uniform(0.3, 1.0) / k, rng.uniform(0.0, 2 * np.pi)) for k in orders
    )


def tissue_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A T2-like pelvic slice (see module docstring); float64 (size, size), about [0.2, 1]."""

    def jitter(value: float, spread: float) -> float:
        return value + spread * float(rng.uniform(-1.0, 1.0))

    coarse = _smooth_field(rng, size, 0.12)
    medium = _smooth_field(rng, size, 0.015)
    fine = _smooth_field(rng, size, 0.004)
    fibres = _smooth_field(rng, size, 0.02, anisotropy=6.0, angle=jitter(0.0, 0.2))
    # fat lobules: thin dark septa along the zero lines of a band-limited field
    lobules = _smooth_field(rng, size, 0.025)
    septa = np.exp(-((lobules / 0.12) ** 2)) * np.clip(0.6 + 0.5 * coarse, 0.0, 1.0)

    # pelvic fat with fibrous septa and connective tissue
    canvas = _Canvas(size, 0.74 + 0.04 * coarse + 0.02 * medium + 0.012 * fine - 0.08 * septa)
    u, v = canvas.u, canvas.v

    # abdominal wall at the top: subcutaneous fat, rectus muscle, thin pre-peritoneal fat line
    wave = 0.012 * np.sin(2 * np.pi * (u * jitter(1.3, 0.3) + rng.uniform()))
    wall = 0.01 * _smooth_field(rng, size, 0.08)
    muscle_top = jitter(0.09, 0.01) + wave + wall
    muscle_bottom = muscle_top + jitter(0.07, 0.01) + 0.6 * wave
    canvas.paint(v - muscle_bottom - 0.014, 0.84 + 0.03 * medium)
    canvas.paint(np.maximum(muscle_top - v, v - muscle_bottom), 0.30 + 0.05 * fibres + 0.015 * fine)
    canvas.paint(v - muscle_top, 0.86 + 0.03 * medium + 0.02 * fine - 0.06 * septa)

    # bladder (anterior, fluid: bright) with a thin dark wall, partly under the abdominal wall
    bu, bv = jitter(0.22, 0.03), jitter(0.27, 0.02)
    blobes = _random_lobes(rng, 0.12)
    canvas.paint(canvas.ellipse(bu, bv, 0.17, 0.085, jitter(0.1, 0.1), blobes), 0.36)
    canvas.paint(
        canvas.ellipse(bu, bv, 0.16, 0.075, jitter(0.1, 0.1), blobes),
        0.95 + 0.01 * fine,
    )

    # sigmoid colon loop at the right: dark wall, mottled content
    for cu, cv, a, b in ((jitter(0.88, 0.02), jitter(0.30, 0.03), 0.09, 0.06),):
        lobes = _random_lobes(rng, 0.15)
        canvas.paint(canvas.ellipse(cu, cv, a, b, jitter(0.5, 0.3), lobes), 0.32)
        canvas.paint(
            canvas.ellipse(cu, cv, 0.7 * a, 0.6 * b, jitter(0.5, 0.3), lobes),
            0.55 + 0.15 * medium + 0.05 * fine,
        )

    # rectum at the bottom: dark muscular wall, brighter mucosa, mottled content
    ru, rv = jitter(0.50, 0.04), jitter(0.96, 0.015)
    rlobes = _random_lobes(rng, 0.1)
    canvas.paint(canvas.ellipse(ru, rv, 0.19, 0.11, jitter(0.0, 0.08), rlobes), 0.28)
    canvas.paint(canvas.ellipse(ru, rv + 0.005, 0.165, 0.09, jitter(0.0, 0.08), rlobes), 0.45)
    canvas.paint(
        canvas.ellipse(ru, rv + 0.01, 0.145, 0.075, jitter(0.0, 0.08), rlobes),
        0.58 + 0.14 * medium + 0.05 * fine,
    )

    uu, uv = jitter(0.48, 0.03), jitter(0.47, 0.03)

    # uterus: pear-shaped myometrium, dark junctional zone, bright endometrium
    angle = jitter(-0.22, 0.12)
    a, b = jitter(0.25, 0.02), jitter(0.15, 0.012)
    ulobes = ((1, 0.08, np.pi + angle), *_random_lobes(rng, 0.05, (3, 4)))
    shade = 0.04 * (u - uu) / a
    myometrium = 0.50 + shade + 0.025 * medium + 0.04 * fibres + 0.02 * fine
    canvas.paint(canvas.ellipse(uu, uv, a, b, angle, ulobes), myometrium)
    junction = canvas.ellipse(uu, uv, 0.58 * a, 0.34 * b, angle, ((1, 0.06, 0.0),))
    canvas.paint(junction, 0.32 + 0.02 * medium + 0.015 * fine)
    canvas.paint(
        canvas.ellipse(uu, uv, 0.5 * a, 0.15 * b, angle, ((1, 0.08, 0.0), (3, 0.04, 1.0))),
        0.82 + 0.03 * fine,
    )
    # a small intramural fibroid (dark, round, whorled) in the anterior myometrium
    fp, fq = jitter(-0.45, 0.1), -0.62
    fcu = uu + fp * a * np.cos(angle) - fq * b * np.sin(angle)
    fcv = uv + fp * a * np.sin(angle) + fq * b * np.cos(angle)
    canvas.paint(
        canvas.ellipse(fcu, fcv, 0.032, 0.03, 0.0, _random_lobes(rng, 0.05)),
        0.28 + 0.03 * fibres + 0.02 * fine,
    )

    # left ovary with follicles
    ou, ov = jitter(0.15, 0.02), jitter(0.70, 0.03)
    oa, ob, oang = jitter(0.095, 0.01), jitter(0.065, 0.008), jitter(0.4, 0.2)
    canvas.paint(
        canvas.ellipse(ou, ov, oa, ob, oang, _random_lobes(rng, 0.1)),
        0.50 + 0.03 * medium + 0.02 * fine,
    )
    for _ in range(int(rng.integers(4, 8))):
        r, t = 0.65 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        fu = ou + r * oa * np.cos(t) * np.cos(oang) - r * ob * np.sin(t) * np.sin(oang)
        fv = ov + r * oa * np.cos(t) * np.sin(oang) + r * ob * np.sin(t) * np.cos(oang)
        radius = rng.uniform(0.008, 0.02)
        canvas.paint(canvas.ellipse(fu, fv, radius, radius * 0.9), 0.93)

    # right endometrioma in the ovary: rim of ovarian stroma, thin dark wall, fluid with
    # T2 "shading" (dependent layering of old blood: darker towards the bottom)
    eu, ev = jitter(0.80, 0.02), jitter(0.68, 0.03)
    er = jitter(0.08, 0.01)
    elobes = _random_lobes(rng, 0.06)
    canvas.paint(
        canvas.ellipse(eu + 0.02, ev + 0.01, er * 1.35, er * 1.2, 0.3, elobes),
        0.50 + 0.03 * medium + 0.02 * fine,
    )
    canvas.paint(canvas.ellipse(eu, ev, er * 1.08, er, jitter(0.0, 0.3), elobes), 0.30)
    shading = np.clip((v - (ev - er)) / (2 * er), 0.0, 1.0)
    canvas.paint(
        canvas.ellipse(eu, ev, er * 0.98, er * 0.9, jitter(0.0, 0.3), elobes),
        0.70 - 0.25 * shading**1.5 + 0.015 * medium,
    )

    # deep infiltrating nodule behind the cervix: lobulated, spiculated, fibrotic (dark),
    # tethered to the posterior uterine wall
    nu = uu + jitter(0.08, 0.03)
    nv = uv + b + jitter(0.09, 0.015)
    lobes = [(k, rng.uniform(0.05, 0.14), rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)]
    lobes += [(k, rng.uniform(0.015, 0.04), rng.uniform(0, 2 * np.pi)) for k in (7, 11, 15)]
    canvas.paint(
        canvas.ellipse(
            nu, nv, jitter(0.07, 0.01), jitter(0.045, 0.008), jitter(0.2, 0.3), tuple(lobes)
        ),
        0.22 + 0.02 * fine + 0.03 * fibres,
    )

    # iliac vessels (flow voids) at the sides
    for cu in (jitter(0.04, 0.015), jitter(0.96, 0.015)):
        cv = jitter(0.50, 0.06)
        canvas.paint(canvas.ellipse(cu, cv, 0.03, 0.022, jitter(0.6, 0.3)), 0.24)
    return np.clip(canvas.image, 0.12, 1.0)


# ------------------------------------------------------------------------------ the pair


@dataclass(frozen=True, eq=False)
class PhantomPair:
    """A simulated MRI/US pair with its ground truth (see module docstring)."""

    mri: Scan
    us: Scan
    #: noise-free, full-resolution tissue image x on the US grid (the MRI ground truth)
    clean_tissue: np.ndarray
    #: noise-free US f(x, |grad x|), in the units of ``us.pixels``
    clean_us: np.ndarray
    link_coefficients: tuple[float, ...]
    d: int
    seed: int
    settings: PhantomSettings = field(default_factory=PhantomSettings)

    def fusion_input(self) -> FusionInput:
        """The paired problem; ``clean_us`` / ``clean_mri`` are scaled like y_u / y_m."""
        import dataclasses

        from .pairing import pair_scans

        scale = float(np.max(self.us.pixels))
        paired = pair_scans(self.mri, self.us, d=self.d, clean_us=self.clean_us / scale)
        return dataclasses.replace(
            paired, clean_mri=self.clean_tissue / float(np.max(self.mri.pixels)))


def make_phantom_pair(
    seed: int = 0, size: int = 600, d: int = 6, settings: PhantomSettings | None = None
) -> PhantomPair:
    """Simulate the demo pair: US (size x size) and MRI (size/d x size/d), seeded."""
    settings = settings or PhantomSettings()
    if not isinstance(d, int | np.integer) or d < 1:
        raise ParameterError(f"The scale factor d must be a whole number >= 1, not {d}.")
    if size < 16 or size % d or size // d < MIN_SIDE:
        raise ParameterError(
            f"The phantom size {size} must be at least 16, a multiple of d = {d}, and give an "
            f"MRI of at least {MIN_SIDE} x {MIN_SIDE} px."
        )
    rng = np.random.default_rng(seed)
    tissue = tissue_image(rng, size)
    clean_us = polynomial_link(tissue, gradient_magnitude(tissue), settings.link_coefficients)
    us = clean_us + log_rayleigh_speckle(
        rng, clean_us.shape, settings.speckle_gamma, settings.speckle_scale
    )
    low = decimate(mri_blur(tissue, settings.mri_blur_sigma), d)
    mri = low + settings.mri_noise_std * rng.standard_normal(low.shape)

    notes = {
        "generator": "engine.phantom",
        "seed": str(seed),
        "scale factor d": str(d),
        "settings": repr(settings),
    }
    spacing = settings.us_spacing_mm

    def info(modality: str, description: str, step: float) -> ScanInfo:
        return ScanInfo(
            modality=modality,
            pixel_spacing_mm=(step, step),
            patient_name=PATIENT_NAME,
            patient_id=f"PHANTOM-{seed}",
            study_description="EndoFuse demo phantom",
            series_description=description,
            notes=notes,
        )

    return PhantomPair(
        mri=Scan(pixels=mri, info=info("MR", "Demo phantom MRI", d * spacing)),
        us=Scan(pixels=us, info=info("US", "Demo phantom US", spacing)),
        clean_tissue=tissue,
        clean_us=clean_us,
        link_coefficients=tuple(float(c) for c in settings.link_coefficients),
        d=d,
        seed=seed,
        settings=settings,
    )
