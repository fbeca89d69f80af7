//! The jobs the writer has taken from its intake and not yet run, and the next group made
//! of them.
//!
//! Publishes come from API requests that wait on them. The lanes' outcomes and take-ups
//! come by the thousand while deliveries run, and nobody waits on one of them but its
//! lane. A group holds every waiting publish (up to its size) and, as group commit does,
//! as much of the rest as has queued up, except while the writer is congested: while
//! publishes wait longer than [`GroupSize::patience`], a group holds at most
//! [`GroupSize::lanes_beside`] of the lanes' jobs, so a publish waits for a group of a
//! few outcomes, not of hundreds, and deliveries slow down until publishing does.
//!
//! Every other job (a retry, a replay, an endpoint's change, …) keeps its place among the
//! lanes' jobs: what was submitted before it runs before it, as the caller that submitted
//! outcomes and then asks for a replay expects; a group takes in every job up to it.
//!
//! Invariants:
//! - Publishes run in the order they were submitted, and so does everything else; only a
//!   publish passes jobs that are not publishes (it writes only new log entries, which
//!   nothing submitted before it reads).
//! - Every group takes some of the rest while any waits: the lanes are never starved.
//! - A writer that keeps pace (every publish taken within `patience`) makes the groups
//!   plain group commit would.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What a job is to the making of groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A publish: runs in the next group, before the jobs of the other kinds.
    Publish,
    /// A lane's outcome or take-up: few per group while publishes wait.
    Lane,
    /// Anything else: runs after everything submitted before it.
    InOrder,
}

pub(super) struct Waiting<J> {
    /// Publishes, with when each was submitted.
    publishes: VecDeque<(J, Instant)>,
    /// Everything else, in submission order.
    rest: VecDeque<J>,
    /// How many of `rest`, from its front, the next groups take whatever the congestion:
    /// up to and including its last job of [`Kind::InOrder`].
    in_order_through: usize,
    /// When the writer last found a publish that had waited too long: it stays
    /// congested for [`GroupSize::linger`] after (see [`Waiting::next_group`]).
    congested_at: Option<Instant>,
}

impl<J> Default for Waiting<J> {
    fn default() -> Self {
        Self {
            publishes: VecDeque::new(),
            rest: VecDeque::new(),
            in_order_through: 0,
            congested_at: None,
        }
    }
}

/// The sizes of the groups [`Waiting::next_group`] makes.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupSize {
    /// The most jobs in a group.
    pub(super) max: usize,
    /// The most lane jobs in a group while the writer is congested.
    pub(super) lanes_beside: usize,
    /// How long a publish may wait for its group before the writer counts as congested.
    pub(super) patience: Duration,
    /// How long the writer stays congested after the last publish that waited too long:
    /// callers that send one request after another leave the queue empty for a moment
    /// between their group and their next request, and a group of lane jobs alone must
    /// not fill that moment.
    pub(super) linger: Duration,
}

impl<J> Waiting<J> {
    pub(super) fn is_empty(&self) -> bool {
        self.publishes.is_empty() && self.rest.is_empty()
    }

    /// Adds `job` of `kind`, submitted at `queued`.
    pub(super) fn push(&mut self, job: J, kind: Kind, queued: Instant) {
        match kind {
            Kind::Publish => self.publishes.push_back((job, queued)),
            Kind::Lane => self.rest.push_back(job),
            Kind::InOrder => {
                self.rest.push_back(job);
                self.in_order_through = self.rest.len();
            }
        }
    }

    /// Moves the next group into `group` (empty), made at `now`: up to `size.max`
    /// publishes, then the rest in order: while the writer is congested at most
    /// `size.lanes_beside` lane jobs (at least one) besides those ahead of a job of
    /// [`Kind::InOrder`], else up to what is left of `size.max`.
    pub(super) fn next_group(&mut self, group: &mut Vec<J>, size: GroupSize, now: Instant) {
        if let Some((_, oldest)) = self.publishes.front()
            && now.saturating_duration_since(*oldest) > size.patience
        {
            self.congested_at = Some(now);
        }
        let congested = self
            .congested_at
            .is_some_and(|at| now.saturating_duration_since(at) <= size.linger);
        let publishes = self.publishes.len().min(size.max);
        group.extend(self.publishes.drain(..publishes).map(|(job, _)| job));
        let left = (size.max - publishes).max(1);
        let room = if congested {
            size.lanes_beside.max(self.in_order_through).clamp(1, left)
        } else {
            left
        };
        let rest = self.rest.len().min(room);
        group.extend(self.rest.drain(..rest));
        self.in_order_through = self.in_order_through.saturating_sub(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: GroupSize = GroupSize {
        max: 10,
        lanes_beside: 2,
        patience: Duration::from_millis(2),
        linger: Duration::from_millis(20),
    };

    fn waiting(jobs: &[(u32, Kind)], at: Instant) -> Waiting<u32> {
        let mut waiting = Waiting::default();
        for &(job, kind) in jobs {
            waiting.push(job, kind, at);
        }
        waiting
    }

    fn groups(waiting: &mut Waiting<u32>, size: GroupSize, now: Instant) -> Vec<Vec<u32>> {
        let mut groups = Vec::new();
        while !waiting.is_empty() {
            let mut group = Vec::new();
            waiting.next_group(&mut group, size, now);
            groups.push(group);
        }
        groups
    }

    const JOBS: [(u32, Kind); 7] = [
        (1, Kind::Lane),
        (2, Kind::Lane),
        (3, Kind::Publish),
        (4, Kind::Lane),
        (5, Kind::Publish),
        (6, Kind::Lane),
        (7, Kind::Lane),
    ];

    #[test]
    fn a_writer_that_keeps_pace_groups_every_waiting_job() {
        let now = Instant::now();
        assert_eq!(
            groups(&mut waiting(&JOBS, now), SIZE, now),
            vec![vec![3, 5, 1, 2, 4, 6, 7]]
        );
    }

    #[test]
    fn a_congested_writer_takes_a_few_lane_jobs_per_group_each_kind_in_order() {
        let start = Instant::now();
        let now = start + SIZE.patience * 2;
        assert_eq!(
            groups(&mut waiting(&JOBS, start), SIZE, now),
            vec![vec![3, 5, 1, 2], vec![4, 6], vec![7]]
        );
    }

    #[test]
    fn other_jobs_keep_their_place_behind_the_lanes_and_take_them_along() {
        let start = Instant::now();
        let now = start + SIZE.patience * 2;
        let mut jobs: Vec<(u32, Kind)> = vec![(1, Kind::Publish)];
        jobs.extend((2..=6).map(|n| (n, Kind::Lane)));
        jobs.push((7, Kind::InOrder));
        jobs.extend([(8, Kind::Lane), (9, Kind::Lane), (10, Kind::Lane)]);
        assert_eq!(
            groups(&mut waiting(&jobs, start), SIZE, now),
            vec![vec![1, 2, 3, 4, 5, 6, 7], vec![8, 9], vec![10]]
        );
    }

    #[test]
    fn congestion_outlasts_the_last_late_publish_by_the_linger() {
        let start = Instant::now();
        let late = start + SIZE.patience * 2;
        let mut waiting = waiting(&[(1, Kind::Publish)], start);
        for n in 2..=25 {
            waiting.push(n, Kind::Lane, start);
        }
        let mut group = Vec::new();
        waiting.next_group(&mut group, SIZE, late);
        assert_eq!(group, vec![1, 2, 3]);

        let mut group = Vec::new();
        waiting.next_group(&mut group, SIZE, late + SIZE.linger);
        assert_eq!(group, vec![4, 5], "still congested");

        let calm = late + SIZE.linger + Duration::from_millis(1);
        assert_eq!(
            groups(&mut waiting, SIZE, calm),
            vec![(6..=15).collect::<Vec<_>>(), (16..=25).collect()]
        );
    }

    #[test]
    fn the_lanes_go_on_while_publishes_fill_every_group() {
        let jobs = [
            (1, Kind::Publish),
            (2, Kind::Publish),
            (3, Kind::Publish),
            (10, Kind::Lane),
            (11, Kind::Lane),
        ];
        let size = GroupSize {
            max: 2,
            lanes_beside: 5,
            ..SIZE
        };
        let now = Instant::now();
        assert_eq!(
            groups(&mut waiting(&jobs, now), size, now),
            vec![vec![1, 2, 10], vec![3, 11]]
        );
    }
}
