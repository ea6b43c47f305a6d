"""Physics of the simulated fleet: operating profile, bearing damage, vibration and heat.

Pure numpy; every function takes its randomness as a ``numpy.random.Generator``. Times are
float seconds since the start of the run. The models (see ``NOTES-physics.md``):

- operating profile: load = 0.75 + daily cycle + slow wander (stays in [0.5, 1.0]); shaft speed =
  nominal * (1 + slow wander within ±2 % - induction-motor slip with load);
- damage (Paris-law-like): dd/dt = k * load^p * (d0 + d)^q. It separates, so with the load
  integral Lp(t) = ∫ load^p dt since onset, G(d) = ∫_0^d (d0 + x)^-q dx = k * Lp(t) gives d(t)
  in closed form; failure is d = 1;
- vibration: 1x / 2x shaft lines + broadband noise + a train of impulses at the defect
  frequency, each ringing a structural resonance; above d = 0.5 the spall spreads and the
  broadband noise rises steeply (RMS stays near baseline until then);
- temperature: first-order thermal model T' = (P_loss - (T - T_amb)/R_th)/C_th, stepped exactly
  for piecewise-constant inputs (stable for any step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.records import BearingGeometry

__all__ = [
    "BEARINGS",
    "FAULT_KINDS",
    "AssetPhysics",
    "DamageCurve",
    "ambient_c",
    "build_damage_curve",
    "current_a",
    "draw_asset_physics",
    "equilibrium_c",
    "expected_rms",
    "impulse_amp_g",
    "load_profile",
    "loss_power_w",
    "noise_sigma_g",
    "ring_kernel",
    "speed_profile",
    "synth_frame",
    "thermal_path",
]

FloatArray = npt.NDArray[np.float64]
DAY_S = 86400.0
FAULT_KINDS: tuple[str, ...] = ("bpfo", "bpfi", "bsf")
BEARINGS: tuple[BearingGeometry, ...] = (
    BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04),  # 6205-like
    BearingGeometry(n_elements=9, ball_diameter_mm=9.53, pitch_diameter_mm=46.40),  # 6206-like
)
LOAD_MEAN = 0.75
LOAD_EXPONENT = 3.0  # ISO 281, ball bearings
SLIP_PER_LOAD = 0.02  # relative speed drop per unit load above the mean
JITTER = 0.015  # relative random spread of the interval between impulses (rolling-element slip)
AMP_SPREAD = 0.1  # relative random spread of single impulse amplitudes
SPREAD_START = 0.5  # damage where the spall starts to spread
SPREAD_GAIN = 4.0  # broadband noise multiplier at d = 1 is 1 + SPREAD_GAIN
_MODULATION_FLOOR = {"bpfo": 1.0, "bpfi": 0.2, "bsf": 0.4}


@dataclass(frozen=True, slots=True)
class AssetPhysics:
    """Static physical parameters of one simulated pump (drawn once per asset)."""

    bearing: BearingGeometry
    nominal_hz: float
    resonance_hz: float
    ring_tau_s: float
    unbalance_g: float
    misalign_g: float
    noise_g: float
    impulse_g: float
    load_day_amp: float
    load_day_phase: float
    wander: tuple[tuple[float, float, float], ...]  # (amplitude, period_s, phase) of load
    speed_wander: tuple[tuple[float, float, float], ...]  # same, relative speed
    ambient_mean_c: float
    ambient_amp_c: float
    r_th_k_per_w: float
    tau_th_s: float
    p_loss_w: float
    i_full_a: float


def _wander(
    rng: np.random.Generator, total: float, periods_h: tuple[float, float]
) -> tuple[tuple[float, float, float], ...]:
    """Three slow sinusoids whose amplitudes sum to at most ``total``."""
    amps = rng.dirichlet(np.ones(3)) * total * rng.uniform(0.6, 1.0)
    periods = rng.uniform(periods_h[0], periods_h[1], 3) * 3600.0
    phases = rng.uniform(0.0, 2.0 * math.pi, 3)
    terms = zip(amps.tolist(), periods.tolist(), phases.tolist(), strict=True)
    return tuple((a, p, f) for a, p, f in terms)


def draw_asset_physics(rng: np.random.Generator) -> AssetPhysics:
    """Draw one asset's parameters (bearing type, speed, resonance, noise, thermal, motor)."""
    day_amp = float(rng.uniform(0.08, 0.14))
    return AssetPhysics(
        bearing=BEARINGS[int(rng.integers(len(BEARINGS)))],
        nominal_hz=float(24.6 * rng.uniform(0.97, 1.03)),
        resonance_hz=float(rng.uniform(2500.0, 6000.0)),
        ring_tau_s=float(rng.uniform(0.25e-3, 0.6e-3)),
        unbalance_g=float(rng.uniform(0.05, 0.2)),
        misalign_g=float(rng.uniform(0.05, 0.12)),
        noise_g=float(rng.uniform(0.05, 0.08)),
        impulse_g=float(rng.uniform(0.8, 1.1)),
        load_day_amp=day_amp,
        load_day_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        wander=_wander(rng, 0.24 - day_amp, (1.5, 8.0)),
        speed_wander=_wander(rng, 0.02, (0.5, 6.0)),
        ambient_mean_c=float(rng.uniform(18.0, 26.0)),
        ambient_amp_c=float(rng.uniform(2.0, 5.0)),
        r_th_k_per_w=float(rng.uniform(0.12, 0.18)),
        tau_th_s=float(rng.uniform(1.5, 3.0) * 3600.0),
        p_loss_w=float(rng.uniform(180.0, 220.0)),
        i_full_a=float(rng.uniform(26.0, 30.0)),
    )


def _sines(terms: tuple[tuple[float, float, float], ...], t_s: FloatArray) -> FloatArray:
    """Sum of ``a * sin(2 pi t / period + phase)`` over ``terms``."""
    out = np.zeros_like(t_s)
    for amp, period, phase in terms:
        out += amp * np.sin(2.0 * math.pi * t_s / period + phase)
    return out


def load_profile(phys: AssetPhysics, t_s: FloatArray, day_offset_s: float) -> FloatArray:
    """True load fraction at ``t_s``: daily cycle plus slow wander, smooth, within [0.5, 1.0]."""
    t = np.asarray(t_s, dtype=np.float64)
    day = 2.0 * math.pi * (t + day_offset_s) / DAY_S
    daily = phys.load_day_amp * np.sin(day + phys.load_day_phase)
    load = LOAD_MEAN + daily + _sines(phys.wander, t)
    return np.clip(load, 0.5, 1.0)


def speed_profile(phys: AssetPhysics, t_s: FloatArray, load: FloatArray) -> FloatArray:
    """True shaft speed in Hz: nominal with slow wander (±2 %) and slip under load (±0.5 %)."""
    rel = _sines(phys.speed_wander, np.asarray(t_s, dtype=np.float64))
    return phys.nominal_hz * (1.0 + rel - SLIP_PER_LOAD * (load - LOAD_MEAN))


def ambient_c(phys: AssetPhysics, t_s: FloatArray, day_offset_s: float) -> FloatArray:
    """Ambient temperature: daily cycle peaking at 15:00 UTC."""
    day = 2.0 * math.pi * ((np.asarray(t_s, dtype=np.float64) + day_offset_s) / DAY_S - 0.375)
    return phys.ambient_mean_c + phys.ambient_amp_c * np.sin(day)


@dataclass(frozen=True, slots=True, eq=False)
class DamageCurve:
    """Damage of one faulty life: d(t) in [0, 1] from the closed-form Paris-law solution."""

    onset_s: float
    k: float
    q: float
    d0: float
    grid_s: FloatArray  # from onset to the end of the run
    load_integral: FloatArray  # ∫ load^p dt from onset, on grid_s

    def _g(self, d: float) -> float:
        """G(d) = ∫_0^d (d0 + x)^-q dx."""
        return float((self.d0 ** (1.0 - self.q) - (self.d0 + d) ** (1.0 - self.q)) / (self.q - 1.0))

    def damage_at(self, t_s: FloatArray) -> FloatArray:
        """Damage at times ``t_s`` (0 before onset, capped at 1)."""
        t = np.asarray(t_s, dtype=np.float64)
        g = self.k * np.interp(t, self.grid_s, self.load_integral, left=0.0)
        g = np.minimum(g, self._g(1.0))
        base = np.maximum(self.d0 ** (1.0 - self.q) - (self.q - 1.0) * g, 1e-12)
        d = base ** (1.0 / (1.0 - self.q)) - self.d0
        return np.clip(np.where(t < self.onset_s, 0.0, d), 0.0, 1.0)

    def failure_s(self) -> float | None:
        """Time at which d reaches 1, or ``None`` if that is after the end of the grid."""
        target = self._g(1.0) / self.k
        i = int(np.searchsorted(self.load_integral, target))
        if i >= len(self.grid_s):
            return None
        if i == 0:
            return float(self.grid_s[0])
        lo, hi = self.load_integral[i - 1], self.load_integral[i]
        frac = (target - lo) / (hi - lo)
        return float(self.grid_s[i - 1] + frac * (self.grid_s[i] - self.grid_s[i - 1]))


def build_damage_curve(
    phys: AssetPhysics,
    *,
    onset_s: float,
    duration_s: float,
    q: float,
    d0: float,
    end_s: float,
    day_offset_s: float,
    step_s: float = 120.0,
) -> DamageCurve:
    """Damage curve whose wear rate ``k`` makes onset-to-failure last ~``duration_s``.

    ``k`` is scaled by the mean of load^p from onset on, so the real duration differs from
    ``duration_s`` only by how the load history is spread over the fault's life.
    """
    if not (q > 1.0 and d0 > 0.0 and duration_s > 0.0):
        msg = f"damage law needs q > 1, d0 > 0, duration > 0; got {q=}, {d0=}, {duration_s=}"
        raise ValueError(msg)
    grid = onset_s + np.arange(0.0, max(end_s - onset_s, 0.0) + step_s, step_s)
    lp = load_profile(phys, grid, day_offset_s) ** LOAD_EXPONENT
    cum = np.concatenate(([0.0], np.cumsum(0.5 * (lp[1:] + lp[:-1]) * np.diff(grid))))
    g1 = (d0 ** (1.0 - q) - (d0 + 1.0) ** (1.0 - q)) / (q - 1.0)
    k = g1 / (float(np.mean(lp)) * duration_s)
    return DamageCurve(onset_s, k, q, d0, grid, cum)


def ring_kernel(phys: AssetPhysics, sample_rate_hz: float) -> FloatArray:
    """Unit impulse response of the structural resonance (decays to ~1 % within 5 tau)."""
    n = max(int(math.ceil(5.0 * phys.ring_tau_s * sample_rate_hz)), 2)
    t = np.arange(n) / sample_rate_hz
    f_res = min(phys.resonance_hz, 0.4 * sample_rate_hz)  # keep the resonance below Nyquist
    return np.exp(-t / phys.ring_tau_s) * np.sin(2.0 * math.pi * f_res * t)


def _impulse_schedule(kind: str, bearing: BearingGeometry, speed_hz: float) -> tuple[float, float]:
    """(impulse rate, amplitude-modulation frequency) in Hz for a defect ``kind``."""
    f = defect_frequencies(bearing, speed_hz)
    if kind == "bpfo":
        return f.bpfo, 0.0  # stationary defect in the load zone: steady impacts
    if kind == "bpfi":
        return f.bpfi, speed_hz  # defect rotates through the load zone
    if kind == "bsf":
        return 2.0 * f.bsf, f.ftf  # a ball strikes both races; it travels with the cage
    msg = f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}"
    raise ValueError(msg)


def _impulse_train(
    kind: str, amp: float, speed_hz: float, bearing: BearingGeometry, kernel: FloatArray,
    n: int, fs: float, rng: np.random.Generator,
) -> FloatArray:
    """Jittered, modulated impulses on the sample grid, convolved with the ringing kernel."""
    rate, mod_hz = _impulse_schedule(kind, bearing, speed_hz)
    period, lead = 1.0 / rate, len(kernel) / fs  # impulses before the frame ring into it
    count = int(math.ceil((n / fs + lead) / period)) + 2
    gaps = period * (1.0 + JITTER * rng.standard_normal(count))
    times = rng.uniform(0.0, period) - lead + np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    times = times[times < n / fs]
    floor = _MODULATION_FLOOR[kind]
    mod = floor + (1.0 - floor) * 0.5 * (1.0 + np.cos(2.0 * math.pi * mod_hz * times
                                                      + rng.uniform(0.0, 2.0 * math.pi)))
    amps = amp * mod * (1.0 + AMP_SPREAD * rng.standard_normal(len(times)))
    pos = np.clip(np.rint(times * fs).astype(np.int64) + len(kernel), 0, n + len(kernel) - 1)
    spikes = np.bincount(pos, weights=amps, minlength=n + len(kernel))
    return np.convolve(spikes, kernel)[len(kernel) : len(kernel) + n]


def _spread(damage: float) -> float:
    """Spall spreading in [0, 1]: 0 until SPREAD_START, then quadratic up to d = 1."""
    return max(0.0, (damage - SPREAD_START) / (1.0 - SPREAD_START)) ** 2


def noise_sigma_g(phys: AssetPhysics, damage: float, load: float) -> float:
    """Broadband noise level: a little load dependent, rising steeply once the spall spreads."""
    return phys.noise_g * (0.9 + 0.2 * load) * (1.0 + SPREAD_GAIN * _spread(damage))


def _line_amps(phys: AssetPhysics, speed_hz: float, load: float) -> tuple[float, float]:
    """Amplitudes (g) of the 1x unbalance and 2x misalignment lines."""
    a1 = phys.unbalance_g * (0.9 + 0.2 * load) * (speed_hz / phys.nominal_hz) ** 2
    return a1, phys.misalign_g * (0.8 + 0.4 * load)


def impulse_amp_g(phys: AssetPhysics, damage: float) -> float:
    """Peak impulse amplitude: grows fast early (visible in envelopes at d ~ 0.1)."""
    return phys.impulse_g * math.sqrt(max(damage, 0.0))


def synth_frame(
    phys: AssetPhysics, *, kind: str | None, damage: float, speed_hz: float, load: float,
    n: int, sample_rate_hz: float, kernel: FloatArray, rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """One vibration frame in g (float32): shaft lines + noise (+ defect impulses if damaged)."""
    t = np.arange(n) / sample_rate_hz
    a1, a2 = _line_amps(phys, speed_hz, load)
    ph1, ph2 = rng.uniform(0.0, 2.0 * math.pi, 2)
    w = 2.0 * math.pi * speed_hz * t
    x = a1 * np.sin(w + ph1) + a2 * np.sin(2.0 * w + ph2)
    x += noise_sigma_g(phys, damage, load) * rng.standard_normal(n)
    if kind is not None and damage > 0.0:
        amp = impulse_amp_g(phys, damage)
        x += _impulse_train(kind, amp, speed_hz, phys.bearing, kernel, n, sample_rate_hz, rng)
    out: npt.NDArray[np.float32] = x.astype(np.float32)
    return out


def _mean_square_mod(floor: float) -> float:
    """E[m^2] for m = floor + (1 - floor) * (1 + cos)/2 over a uniform phase."""
    return floor**2 + floor * (1.0 - floor) + (1.0 - floor) ** 2 * 3.0 / 8.0


def expected_rms(
    phys: AssetPhysics, damage: float, *, load: float = LOAD_MEAN, speed_hz: float | None = None,
    sample_rate_hz: float = 25600.0,
) -> float:
    """Expected frame RMS (g) at ``damage``, averaged over the fault kinds (kind-independent)."""
    fr = phys.nominal_hz if speed_hz is None else speed_hz
    a1, a2 = _line_amps(phys, fr, load)
    ms = 0.5 * (a1**2 + a2**2) + noise_sigma_g(phys, damage, load) ** 2
    kernel = ring_kernel(phys, sample_rate_hz)
    energy = float(np.sum(kernel**2)) / sample_rate_hz * (1.0 + AMP_SPREAD**2)
    per_kind = [
        _impulse_schedule(k, phys.bearing, fr)[0] * _mean_square_mod(_MODULATION_FLOOR[k])
        for k in FAULT_KINDS
    ]
    ms += impulse_amp_g(phys, damage) ** 2 * energy * float(np.mean(per_kind))
    return math.sqrt(ms)


def loss_power_w(phys: AssetPhysics, load: FloatArray, speed_hz: FloatArray,
                 damage: FloatArray) -> FloatArray:
    """Heat into the bearing housing: rises with load, speed and (friction of) damage."""
    return (phys.p_loss_w * (0.25 + 0.75 * load) * (speed_hz / phys.nominal_hz)
            * (1.0 + 0.6 * damage**2))


def current_a(phys: AssetPhysics, load: FloatArray, damage: FloatArray) -> FloatArray:
    """Motor current: no-load magnetising current + a part proportional to load + friction."""
    i0 = 0.35 * phys.i_full_a
    return i0 + (phys.i_full_a - i0) * load + 0.04 * phys.i_full_a * damage**2


def thermal_path(phys: AssetPhysics, temp0_c: float, t_eq_c: FloatArray,
                 step_s: float) -> tuple[FloatArray, float]:
    """Temperatures at each step of a chunk and the state after it.

    ``t_eq_c[i] = T_amb + R_th * P_loss`` is held over step ``i``; the step of the first-order
    model is exact for such inputs: ``T <- T_eq + (T - T_eq) * exp(-step / (R_th C_th))``.
    """
    decay = math.exp(-step_s / phys.tau_th_s)
    out = np.empty_like(t_eq_c)
    temp = temp0_c
    for i, t_eq in enumerate(t_eq_c.tolist()):
        out[i] = temp
        temp = t_eq + (temp - t_eq) * decay
    return out, temp


def equilibrium_c(phys: AssetPhysics, ambient: FloatArray, load: FloatArray, speed_hz: FloatArray,
                  damage: FloatArray) -> FloatArray:
    """Steady-state housing temperature for the given inputs."""
    return ambient + phys.r_th_k_per_w * loss_power_w(phys, load, speed_hz, damage)
