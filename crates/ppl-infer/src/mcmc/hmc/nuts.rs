//! The No-U-Turn sampler as Stan runs it: trajectories doubled in a random direction
//! (Hoffman & Gelman 2014), multinomial sampling of the state with biased progressive sampling
//! between a trajectory and each new subtree and uniform progressive sampling inside subtrees,
//! and the generalised no-U-turn criterion on summed momenta (Betancourt 2017, §A.4), checked on
//! every subtree, on the merged trajectory, and across each pair of neighbouring subtrees
//! extended by one point (the extra checks Stan added in 2.23 against missed U-turns).
//!
//! All trajectory storage is allocated once per chain: one scratch level per tree depth.

use std::sync::atomic::{AtomicBool, Ordering};

use rand::{Rng, RngExt};

use super::integrator::Integrator;
use super::metric::Metric;
use super::{ChainState, Kernel, PhasePoint, TransitionStats, dot};
use crate::density::LogDensity;

/// NUTS with Stan's defaults: maximum tree depth 10, divergence at an energy error of 1000.
#[derive(Clone, Debug)]
pub struct Nuts {
    max_depth: u32,
    max_energy_error: f64,
    workspace: Option<Workspace>,
}

impl Nuts {
    /// `max_depth` bounds the trajectory at `2^max_depth` leapfrog steps (at least 1).
    pub fn new(max_depth: u32, max_energy_error: f64) -> Self {
        Nuts {
            max_depth: max_depth.max(1),
            max_energy_error,
            workspace: None,
        }
    }
}

/// A candidate draw: what the chain needs to continue from it, and its kinetic energy for
/// `energy__`.
#[derive(Clone, Debug)]
struct Proposal {
    position: Vec<f64>,
    gradient: Vec<f64>,
    log_density: f64,
    kinetic_energy: f64,
}

impl Proposal {
    fn new(dim: usize) -> Self {
        Proposal {
            position: vec![0.0; dim],
            gradient: vec![0.0; dim],
            log_density: f64::NEG_INFINITY,
            kinetic_energy: 0.0,
        }
    }

    fn take_point(&mut self, point: &PhasePoint) {
        self.position.copy_from_slice(&point.position);
        self.gradient.copy_from_slice(&point.gradient);
        self.log_density = point.log_density;
        self.kinetic_energy = point.kinetic_energy;
    }

    fn take_proposal(&mut self, other: &Proposal) {
        self.position.copy_from_slice(&other.position);
        self.gradient.copy_from_slice(&other.gradient);
        self.log_density = other.log_density;
        self.kinetic_energy = other.kinetic_energy;
    }
}

/// Scratch for building a subtree of one depth out of two halves.
#[derive(Clone, Debug)]
struct Level {
    final_proposal: Proposal,
    rho_initial: Vec<f64>,
    rho_final: Vec<f64>,
    rho_subtree: Vec<f64>,
    /// Momentum and velocity at the end of the initial half and the beginning of the final
    /// half: the two points where the halves meet.
    momentum_initial_end: Vec<f64>,
    velocity_initial_end: Vec<f64>,
    momentum_final_begin: Vec<f64>,
    velocity_final_begin: Vec<f64>,
}

impl Level {
    fn new(dim: usize) -> Self {
        Level {
            final_proposal: Proposal::new(dim),
            rho_initial: vec![0.0; dim],
            rho_final: vec![0.0; dim],
            rho_subtree: vec![0.0; dim],
            momentum_initial_end: vec![0.0; dim],
            velocity_initial_end: vec![0.0; dim],
            momentum_final_begin: vec![0.0; dim],
            velocity_final_begin: vec![0.0; dim],
        }
    }
}

/// The boundary momenta of a trajectory made of a backward and a forward part. "fwd_bck" reads
/// "the backward end of the forward part", and so on.
#[derive(Clone, Debug)]
struct Boundaries {
    p_fwd_fwd: Vec<f64>,
    v_fwd_fwd: Vec<f64>,
    p_fwd_bck: Vec<f64>,
    v_fwd_bck: Vec<f64>,
    p_bck_fwd: Vec<f64>,
    v_bck_fwd: Vec<f64>,
    p_bck_bck: Vec<f64>,
    v_bck_bck: Vec<f64>,
}

#[derive(Clone, Debug)]
struct Workspace {
    forward_end: PhasePoint,
    backward_end: PhasePoint,
    sample: Proposal,
    proposal: Proposal,
    rho: Vec<f64>,
    rho_forward: Vec<f64>,
    rho_backward: Vec<f64>,
    boundaries: Boundaries,
    levels: Vec<Level>,
}

impl Workspace {
    fn new(dim: usize, max_depth: u32) -> Self {
        let v = || vec![0.0; dim];
        Workspace {
            forward_end: PhasePoint::new(dim),
            backward_end: PhasePoint::new(dim),
            sample: Proposal::new(dim),
            proposal: Proposal::new(dim),
            rho: v(),
            rho_forward: v(),
            rho_backward: v(),
            boundaries: Boundaries {
                p_fwd_fwd: v(),
                v_fwd_fwd: v(),
                p_fwd_bck: v(),
                v_fwd_bck: v(),
                p_bck_fwd: v(),
                v_bck_fwd: v(),
                p_bck_bck: v(),
                v_bck_bck: v(),
            },
            levels: (0..max_depth).map(|_| Level::new(dim)).collect(),
        }
    }
}

/// What stays fixed, or only accumulates, while one trajectory is built.
struct Trajectory<'a, D, M, I, R: ?Sized> {
    density: &'a mut D,
    metric: &'a M,
    integrator: &'a mut I,
    rng: &'a mut R,
    /// Signed: negative when building backwards in time.
    step_size: f64,
    initial_energy: f64,
    max_energy_error: f64,
    n_leapfrog: u32,
    sum_metropolis_probability: f64,
    divergent: bool,
    /// The run's cancellation flag, looked at before every leapfrog step so that a deep tree
    /// (up to 1024 gradients) does not delay a Ctrl-C.
    stop: Option<&'a AtomicBool>,
}

/// Where a subtree writes its results: its sampled point, the momenta and velocities at its
/// first and last points (in the order built), its summed momentum and its log weight.
struct SubtreeOutput<'b> {
    proposal: &'b mut Proposal,
    momentum_begin: &'b mut [f64],
    velocity_begin: &'b mut [f64],
    momentum_end: &'b mut [f64],
    velocity_end: &'b mut [f64],
    rho: &'b mut [f64],
    log_sum_weight: &'b mut f64,
}

/// The generalised no-U-turn criterion: the summed momentum still points forward at both ends.
#[inline]
fn no_u_turn(velocity_minus: &[f64], velocity_plus: &[f64], rho: &[f64]) -> bool {
    dot(velocity_plus, rho) > 0.0 && dot(velocity_minus, rho) > 0.0
}

/// The same criterion for `rho + extra` without forming the sum.
#[inline]
fn no_u_turn_extended(
    velocity_minus: &[f64],
    velocity_plus: &[f64],
    rho: &[f64],
    extra: &[f64],
) -> bool {
    dot(velocity_plus, rho) + dot(velocity_plus, extra) > 0.0
        && dot(velocity_minus, rho) + dot(velocity_minus, extra) > 0.0
}

#[inline]
fn log_sum_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let max = a.max(b);
    max + ((a - max).exp() + (b - max).exp()).ln()
}

/// Builds a subtree of `2^depth` leapfrog steps from `point` onwards; returns whether it is
/// valid (no divergence, no U-turn inside it). `levels[depth - 1]` is this depth's scratch.
fn build_tree<D, M, I, R>(
    trajectory: &mut Trajectory<'_, D, M, I, R>,
    point: &mut PhasePoint,
    depth: usize,
    levels: &mut [Level],
    out: SubtreeOutput<'_>,
) -> bool
where
    D: LogDensity,
    M: Metric,
    I: Integrator,
    R: Rng + ?Sized,
{
    if depth == 0 {
        if trajectory
            .stop
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            // The caller discards this transition; ending the tree is all that matters.
            return false;
        }
        trajectory.integrator.step(
            trajectory.density,
            trajectory.metric,
            point,
            trajectory.step_size,
        );
        trajectory.n_leapfrog += 1;
        let energy = point.energy();
        let energy_change = trajectory.initial_energy - energy;
        // A NaN energy (e.g. a NaN gradient at a finite density poisoning the momentum) fails
        // every comparison, so it is named a divergence explicitly, as Stan does.
        let broken = energy_change.is_nan() || point.gradient.iter().any(|g| !g.is_finite());
        if broken || -energy_change > trajectory.max_energy_error {
            trajectory.divergent = true;
        }
        *out.log_sum_weight = log_sum_exp(*out.log_sum_weight, energy_change);
        trajectory.sum_metropolis_probability += if energy_change > 0.0 {
            1.0
        } else {
            energy_change.exp()
        };
        out.proposal.take_point(point);
        for (r, p) in out.rho.iter_mut().zip(&point.momentum) {
            *r += p;
        }
        out.momentum_begin.copy_from_slice(&point.momentum);
        out.velocity_begin.copy_from_slice(&point.velocity);
        out.momentum_end.copy_from_slice(&point.momentum);
        out.velocity_end.copy_from_slice(&point.velocity);
        return !trajectory.divergent;
    }

    let (lower, rest) = levels.split_at_mut(depth - 1);
    let level = &mut rest[0];
    level.rho_initial.fill(0.0);
    level.rho_final.fill(0.0);

    let mut log_sum_weight_initial = f64::NEG_INFINITY;
    let valid_initial = build_tree(
        trajectory,
        point,
        depth - 1,
        lower,
        SubtreeOutput {
            proposal: &mut *out.proposal,
            momentum_begin: &mut *out.momentum_begin,
            velocity_begin: &mut *out.velocity_begin,
            momentum_end: &mut level.momentum_initial_end,
            velocity_end: &mut level.velocity_initial_end,
            rho: &mut level.rho_initial,
            log_sum_weight: &mut log_sum_weight_initial,
        },
    );
    if !valid_initial {
        return false;
    }

    let mut log_sum_weight_final = f64::NEG_INFINITY;
    let valid_final = build_tree(
        trajectory,
        point,
        depth - 1,
        lower,
        SubtreeOutput {
            proposal: &mut level.final_proposal,
            momentum_begin: &mut level.momentum_final_begin,
            velocity_begin: &mut level.velocity_final_begin,
            momentum_end: &mut *out.momentum_end,
            velocity_end: &mut *out.velocity_end,
            rho: &mut level.rho_final,
            log_sum_weight: &mut log_sum_weight_final,
        },
    );
    if !valid_final {
        return false;
    }

    // Uniform progressive sampling between the two halves.
    let log_sum_weight_subtree = log_sum_exp(log_sum_weight_initial, log_sum_weight_final);
    *out.log_sum_weight = log_sum_exp(*out.log_sum_weight, log_sum_weight_subtree);
    if log_sum_weight_final > log_sum_weight_subtree {
        out.proposal.take_proposal(&level.final_proposal);
    } else {
        let accept_probability = (log_sum_weight_final - log_sum_weight_subtree).exp();
        if trajectory.rng.random::<f64>() < accept_probability {
            out.proposal.take_proposal(&level.final_proposal);
        }
    }

    for (((subtree, initial), final_part), total) in level
        .rho_subtree
        .iter_mut()
        .zip(&level.rho_initial)
        .zip(&level.rho_final)
        .zip(out.rho.iter_mut())
    {
        *subtree = initial + final_part;
        *total += *subtree;
    }
    // Around the whole subtree, then across the seam: the initial half extended by the first
    // point of the final half, and the final half extended by the last point of the initial half.
    no_u_turn(out.velocity_begin, out.velocity_end, &level.rho_subtree)
        && no_u_turn_extended(
            out.velocity_begin,
            &level.velocity_final_begin,
            &level.rho_initial,
            &level.momentum_final_begin,
        )
        && no_u_turn_extended(
            &level.velocity_initial_end,
            out.velocity_end,
            &level.rho_final,
            &level.momentum_initial_end,
        )
}

impl Kernel for Nuts {
    fn transition<D, M, I, R>(
        &mut self,
        density: &mut D,
        metric: &M,
        integrator: &mut I,
        step_size: f64,
        state: &mut ChainState,
        rng: &mut R,
    ) -> TransitionStats
    where
        D: LogDensity,
        M: Metric,
        I: Integrator,
        R: Rng + ?Sized,
    {
        self.transition_until(density, metric, integrator, step_size, state, rng, None)
    }

    fn transition_until<D, M, I, R>(
        &mut self,
        density: &mut D,
        metric: &M,
        integrator: &mut I,
        step_size: f64,
        state: &mut ChainState,
        rng: &mut R,
        stop: Option<&AtomicBool>,
    ) -> TransitionStats
    where
        D: LogDensity,
        M: Metric,
        I: Integrator,
        R: Rng + ?Sized,
    {
        let dim = state.position.len();
        let max_depth = self.max_depth;
        let workspace = self
            .workspace
            .get_or_insert_with(|| Workspace::new(dim, max_depth));
        let Workspace {
            forward_end,
            backward_end,
            sample,
            proposal,
            rho,
            rho_forward,
            rho_backward,
            boundaries: b,
            levels,
        } = workspace;

        forward_end.position.copy_from_slice(&state.position);
        forward_end.gradient.copy_from_slice(&state.gradient);
        forward_end.log_density = state.log_density;
        forward_end.resample_momentum(metric, rng);
        backward_end.copy_from(forward_end);
        sample.take_point(forward_end);
        for end in [
            &mut b.p_fwd_fwd,
            &mut b.p_fwd_bck,
            &mut b.p_bck_fwd,
            &mut b.p_bck_bck,
        ] {
            end.copy_from_slice(&forward_end.momentum);
        }
        for end in [
            &mut b.v_fwd_fwd,
            &mut b.v_fwd_bck,
            &mut b.v_bck_fwd,
            &mut b.v_bck_bck,
        ] {
            end.copy_from_slice(&forward_end.velocity);
        }
        rho.copy_from_slice(&forward_end.momentum);

        let mut trajectory = Trajectory {
            density,
            metric,
            integrator,
            rng,
            step_size,
            initial_energy: forward_end.energy(),
            max_energy_error: self.max_energy_error,
            n_leapfrog: 0,
            sum_metropolis_probability: 0.0,
            divergent: false,
            stop,
        };
        // The initial point has weight exp(H0 - H0) = 1.
        let mut log_sum_weight = 0.0;
        let mut depth = 0u32;

        while depth < max_depth {
            rho_forward.fill(0.0);
            rho_backward.fill(0.0);
            let mut log_sum_weight_subtree = f64::NEG_INFINITY;
            let valid_subtree = if trajectory.rng.random::<f64>() > 0.5 {
                // Forwards: the old trajectory becomes the backward part.
                rho_backward.copy_from_slice(rho);
                b.p_bck_fwd.copy_from_slice(&b.p_fwd_fwd);
                b.v_bck_fwd.copy_from_slice(&b.v_fwd_fwd);
                trajectory.step_size = step_size;
                build_tree(
                    &mut trajectory,
                    forward_end,
                    depth as usize,
                    levels,
                    SubtreeOutput {
                        proposal,
                        momentum_begin: &mut b.p_fwd_bck,
                        velocity_begin: &mut b.v_fwd_bck,
                        momentum_end: &mut b.p_fwd_fwd,
                        velocity_end: &mut b.v_fwd_fwd,
                        rho: rho_forward,
                        log_sum_weight: &mut log_sum_weight_subtree,
                    },
                )
            } else {
                rho_forward.copy_from_slice(rho);
                b.p_fwd_bck.copy_from_slice(&b.p_bck_bck);
                b.v_fwd_bck.copy_from_slice(&b.v_bck_bck);
                trajectory.step_size = -step_size;
                build_tree(
                    &mut trajectory,
                    backward_end,
                    depth as usize,
                    levels,
                    SubtreeOutput {
                        proposal,
                        momentum_begin: &mut b.p_bck_fwd,
                        velocity_begin: &mut b.v_bck_fwd,
                        momentum_end: &mut b.p_bck_bck,
                        velocity_end: &mut b.v_bck_bck,
                        rho: rho_backward,
                        log_sum_weight: &mut log_sum_weight_subtree,
                    },
                )
            };
            if !valid_subtree {
                break;
            }
            depth += 1;

            // Biased progressive sampling: favour the new subtree.
            if log_sum_weight_subtree > log_sum_weight {
                sample.take_proposal(proposal);
            } else {
                let accept_probability = (log_sum_weight_subtree - log_sum_weight).exp();
                if trajectory.rng.random::<f64>() < accept_probability {
                    sample.take_proposal(proposal);
                }
            }
            log_sum_weight = log_sum_exp(log_sum_weight, log_sum_weight_subtree);

            for ((total, backward), forward) in
                rho.iter_mut().zip(&*rho_backward).zip(&*rho_forward)
            {
                *total = backward + forward;
            }
            let persist = no_u_turn(&b.v_bck_bck, &b.v_fwd_fwd, rho)
                && no_u_turn_extended(&b.v_bck_bck, &b.v_fwd_bck, rho_backward, &b.p_fwd_bck)
                && no_u_turn_extended(&b.v_bck_fwd, &b.v_fwd_fwd, rho_forward, &b.p_bck_fwd);
            if !persist {
                break;
            }
        }

        state.position.copy_from_slice(&sample.position);
        state.gradient.copy_from_slice(&sample.gradient);
        state.log_density = sample.log_density;
        TransitionStats {
            accept_stat: trajectory.sum_metropolis_probability / f64::from(trajectory.n_leapfrog),
            tree_depth: depth,
            n_leapfrog: trajectory.n_leapfrog,
            divergent: trajectory.divergent,
            energy: -sample.log_density + sample.kinetic_energy,
        }
    }
}
