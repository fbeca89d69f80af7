//! What the store's writes cost, counted by each store itself where its writes pass:
//! statements run and rows written, for publishing, for taking events up and for
//! recording outcomes. Machine-independent figures for the bench (how the cost of a
//! publish grows with the endpoints, or does not), read with
//! [`crate::sqlite::SqliteStore::work_done`] or
//! [`crate::postgres::PostgresStore::work_done`].
//!
//! Invariants:
//! - Counts only grow; a reader takes two snapshots and subtracts.
//! - A kind of work counts its own statements, including the savepoints around it; the
//!   transaction's BEGIN and COMMIT, one per group, are counted apart (`groups`).
//! - Rows written are inserts, updates and deletes, as the database reports them.
//! - SQLite counts statements only once asked (`SqliteStore::count_statements`): its
//!   hook costs the writer about a twentieth of its instructions.

use std::sync::atomic::{AtomicU64, Ordering};

/// Statements run and rows written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub statements: u64,
    pub rows: u64,
}

impl Cost {
    /// What was spent between `earlier` and `self`.
    pub fn since(self, earlier: Cost) -> Cost {
        Cost {
            statements: self.statements - earlier.statements,
            rows: self.rows - earlier.rows,
        }
    }
}

/// A store's counts since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkDone {
    /// Publishing: the event (its log entry), its idempotency key, their checks.
    pub publish: Cost,
    /// Taking events up: reading endpoints and the log, inserting deliveries, moving
    /// cursors.
    pub take_up: Cost,
    /// Recording attempts' outcomes.
    pub outcomes: Cost,
    /// Events published (duplicates not counted), to divide by.
    pub events: u64,
    /// Outcomes recorded, to divide by.
    pub recorded: u64,
    /// Group transactions committed (each one BEGIN and one COMMIT).
    pub groups: u64,
}

impl WorkDone {
    /// What was done between `earlier` and `self`.
    pub fn since(self, earlier: WorkDone) -> WorkDone {
        WorkDone {
            publish: self.publish.since(earlier.publish),
            take_up: self.take_up.since(earlier.take_up),
            outcomes: self.outcomes.since(earlier.outcomes),
            events: self.events - earlier.events,
            recorded: self.recorded - earlier.recorded,
            groups: self.groups - earlier.groups,
        }
    }
}

/// The kinds of work counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Publish,
    TakeUp,
    Outcome,
}

/// The counters a store keeps.
#[derive(Debug, Default)]
pub(crate) struct WorkCounter {
    /// Statements and rows of each [`Work`], in its order.
    costs: [[AtomicU64; 2]; 3],
    events: AtomicU64,
    recorded: AtomicU64,
    groups: AtomicU64,
}

impl WorkCounter {
    pub(crate) fn add(&self, work: Work, statements: u64, rows: u64) {
        let [s, r] = &self.costs[work as usize];
        s.fetch_add(statements, Ordering::Relaxed);
        r.fetch_add(rows, Ordering::Relaxed);
    }

    pub(crate) fn published(&self, events: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
    }

    pub(crate) fn recorded(&self, outcomes: u64) {
        self.recorded.fetch_add(outcomes, Ordering::Relaxed);
    }

    pub(crate) fn group(&self) {
        self.groups.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WorkDone {
        let cost = |work: Work| {
            let [s, r] = &self.costs[work as usize];
            Cost {
                statements: s.load(Ordering::Relaxed),
                rows: r.load(Ordering::Relaxed),
            }
        };
        WorkDone {
            publish: cost(Work::Publish),
            take_up: cost(Work::TakeUp),
            outcomes: cost(Work::Outcome),
            events: self.events.load(Ordering::Relaxed),
            recorded: self.recorded.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
        }
    }
}
