//! The end-of-warmup check across chains: a chain whose log density at the end of warmup lies
//! far below another chain's sits where the posterior has no mass, and is warmed up again from
//! that chain's position.
//!
//! Why across chains: a chain can be trapped where its own warmup sees nothing wrong. arma11
//! started outside its invertible region has a log density that is a maze of narrow local
//! maxima (width ~1e-10 in θ, log density −236 against +65 at the mode); a gradient-informed
//! metric fits such a crevice exactly, the step size looks healthy and the metric settles.
//! Only the other chains show that the crevice holds a share `exp(−300)` of the mass.
//!
//! The rule is deliberately blunt, so that it never fires on a posterior the chains agree on:
//! chain `k` is stuck when the best chain's mean log density over the last warmup iterations
//! exceeds chain `k`'s by more than `STUCK_SPREADS` times the sum of their spreads (standard
//! deviations over the same iterations) plus `STUCK_MARGIN`. Two chains in one typical set
//! differ by about one spread; a narrower mode would need `exp(gap)` times the other's volume to
//! hold equal mass, which the spreads (about `sqrt(d/2)` each) cover up to large dimension.
//! Every restart is reported, so the user sees it. The decision depends only on the chains'
//! warmup results, so a seed still gives the same draws whatever the thread count; it does need
//! every chain of the run in one process (chains split over machines with `--chain-id` are
//! checked per machine).

use std::sync::{Condvar, Mutex};

/// How many lp spreads apart a chain must be from the best one to count as stuck.
pub const STUCK_SPREADS: f64 = 20.0;
/// The fixed part of the margin, in log density units: `exp(−50)` is no share of any posterior.
pub const STUCK_MARGIN: f64 = 50.0;
/// The last warmup iterations whose log density a chain reports.
pub const SUMMARY_ITERATIONS: usize = 50;

/// What one chain reports at the end of its warmup.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupSummary {
    /// Mean and standard deviation of the log density over the last warmup iterations.
    pub mean_lp: f64,
    pub sd_lp: f64,
    /// The chain's position at the end of warmup (unconstrained).
    pub position: Vec<f64>,
}

impl WarmupSummary {
    /// From the last warmup log densities and the final position; `None` without any finite
    /// log density.
    pub fn from_log_densities(log_densities: &[f64], position: &[f64]) -> Option<Self> {
        let finite: Vec<f64> = log_densities
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if finite.is_empty() {
            return None;
        }
        let n = finite.len() as f64;
        let mean_lp = finite.iter().sum::<f64>() / n;
        let sd_lp = (finite.iter().map(|v| (v - mean_lp).powi(2)).sum::<f64>() / n).sqrt();
        Some(WarmupSummary {
            mean_lp,
            sd_lp,
            position: position.to_vec(),
        })
    }
}

/// For each chain, the index of the chain it should be warmed up again from (`None`: keep going).
/// Chains without a summary are neither checked nor used as a source.
pub fn stuck_chains(summaries: &[Option<WarmupSummary>]) -> Vec<Option<usize>> {
    let mut decisions = vec![None; summaries.len()];
    let best = summaries
        .iter()
        .enumerate()
        .filter_map(|(index, summary)| summary.as_ref().map(|s| (index, s)))
        .filter(|(_, s)| s.mean_lp.is_finite() && s.sd_lp.is_finite())
        .max_by(|a, b| a.1.mean_lp.total_cmp(&b.1.mean_lp));
    let Some((best_index, best)) = best else {
        return decisions;
    };
    let is_stuck = |summary: &WarmupSummary| {
        let margin = STUCK_SPREADS * (best.sd_lp + summary.sd_lp) + STUCK_MARGIN;
        // A NaN gap (a non-finite mean) counts as stuck: that chain has no usable state.
        let within = best.mean_lp - summary.mean_lp <= margin;
        !within
    };
    let healthy: Vec<usize> = summaries
        .iter()
        .enumerate()
        .filter_map(|(index, summary)| {
            summary
                .as_ref()
                .filter(|s| index == best_index || !is_stuck(s))
                .map(|_| index)
        })
        .collect();
    let mut next_source = 0;
    for (index, summary) in summaries.iter().enumerate() {
        if let Some(summary) = summary
            && !healthy.contains(&index)
            && is_stuck(summary)
        {
            // Spread the restarts over the healthy chains.
            decisions[index] = Some(healthy[next_source % healthy.len()]);
            next_source += 1;
        }
    }
    decisions
}

/// Where the chains of one run meet at the end of warmup: each posts its summary and waits for
/// all the others, then learns whether to restart and from where.
pub(crate) struct WarmupBoard {
    slots: Mutex<Vec<Option<Option<WarmupSummary>>>>,
    all_posted: Condvar,
}

impl WarmupBoard {
    pub(crate) fn new(num_chains: usize) -> Self {
        WarmupBoard {
            slots: Mutex::new(vec![None; num_chains]),
            all_posted: Condvar::new(),
        }
    }

    /// A chain's place at the board; if dropped unposted (an error, a panic) it posts nothing,
    /// so no other chain waits for it forever.
    pub(crate) fn ticket(&self, index: usize) -> BoardTicket<'_> {
        BoardTicket {
            board: self,
            index,
            posted: false,
        }
    }

    fn post(&self, index: usize, summary: Option<WarmupSummary>) {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(summary);
        }
        self.all_posted.notify_all();
    }

    fn wait_for_all(&self) -> Vec<Option<WarmupSummary>> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while slots.iter().any(Option::is_none) {
            slots = self
                .all_posted
                .wait(slots)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        slots.iter().map(|slot| slot.clone().flatten()).collect()
    }
}

pub(crate) struct BoardTicket<'a> {
    board: &'a WarmupBoard,
    index: usize,
    posted: bool,
}

impl BoardTicket<'_> {
    /// Posts this chain's summary, waits for every chain, and returns the source chain's index
    /// and end-of-warmup position if this chain is to be warmed up again from there.
    pub(crate) fn post_and_wait(
        mut self,
        summary: Option<WarmupSummary>,
    ) -> Option<(usize, Vec<f64>)> {
        self.posted = true;
        self.board.post(self.index, summary);
        let summaries = self.board.wait_for_all();
        let source = (*stuck_chains(&summaries).get(self.index)?)?;
        let position = summaries.get(source)?.as_ref()?.position.clone();
        Some((source, position))
    }
}

impl Drop for BoardTicket<'_> {
    fn drop(&mut self) {
        if !self.posted {
            self.board.post(self.index, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(mean_lp: f64, sd_lp: f64) -> Option<WarmupSummary> {
        Some(WarmupSummary {
            mean_lp,
            sd_lp,
            position: vec![mean_lp],
        })
    }

    #[test]
    fn chains_in_one_typical_set_are_left_alone() {
        // Four chains of a 100-d Gaussian: lp spread sqrt(50) ≈ 7, means within a spread or two.
        let summaries = [
            summary(-50.0, 7.0),
            summary(-62.0, 7.5),
            summary(-45.0, 6.8),
            summary(-55.0, 7.1),
        ];
        assert_eq!(stuck_chains(&summaries), vec![None; 4]);
        // A heavy tail or a funnel: spreads of 30 allow gaps of over a thousand.
        let summaries = [summary(0.0, 30.0), summary(-900.0, 30.0)];
        assert_eq!(stuck_chains(&summaries), vec![None; 2]);
    }

    #[test]
    fn a_chain_far_below_the_others_restarts_from_a_healthy_one() {
        // arma11, seed 1: three chains at +65, one in a crevice at −236.
        let summaries = [
            summary(65.2, 1.4),
            summary(65.0, 1.3),
            summary(64.9, 1.5),
            summary(-236.7, 1.2),
        ];
        let decisions = stuck_chains(&summaries);
        assert_eq!(&decisions[..3], &[None, None, None]);
        assert!(decisions[3].is_some_and(|source| source < 3));
        // Two stuck chains go to different healthy sources; a chain without a summary (an
        // interrupted one) is neither checked nor a source.
        let summaries = [
            summary(65.0, 1.0),
            summary(-5266.0, 3.0),
            None,
            summary(-3.9e11, 1e9),
            summary(64.0, 1.0),
        ];
        assert_eq!(
            stuck_chains(&summaries),
            vec![None, Some(0), None, Some(4), None]
        );
        assert_eq!(stuck_chains(&[None, None]), vec![None, None]);
    }

    #[test]
    fn the_board_hands_each_chain_its_decision() {
        let board = WarmupBoard::new(3);
        let lps = [[65.0, 66.0], [-300.0, -301.0], [64.0, 65.5]];
        let decisions: Vec<Option<(usize, Vec<f64>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..3)
                .map(|index| {
                    let ticket = board.ticket(index);
                    let lp = lps[index];
                    scope.spawn(move || {
                        ticket
                            .post_and_wait(WarmupSummary::from_log_densities(&lp, &[index as f64]))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(decisions, vec![None, Some((0, vec![0.0])), None]);
        // A ticket dropped without posting (a chain that failed) does not block the others.
        let board = WarmupBoard::new(2);
        let decision = std::thread::scope(|scope| {
            let dropped = board.ticket(0);
            let kept = board.ticket(1);
            scope.spawn(move || drop(dropped));
            scope
                .spawn(move || kept.post_and_wait(summary(1.0, 1.0)))
                .join()
                .unwrap()
        });
        assert_eq!(decision, None);
    }
}
