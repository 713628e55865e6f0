//! Test-only fault injection: kill this process at a named step inside the
//! critical section, to prove that no trade or instructor's change is ever
//! half-applied, or inside `exchange-init`'s creation, to prove that
//! nothing it leaves behind is beyond `--force` and `--remove`.
//!
//! Built only with the `fault-injection` cargo feature. The step is read
//! from `SHM_EXCHANGE_CRASH_AT`, as `STEP`, `STEP:abort` or `STEP:stop`.
//! The default is death by SIGKILL; `abort` dies by SIGABRT; `stop` sends
//! itself SIGSTOP, freezing with the lock held, so a test can copy the
//! segment mid-trade and then kill it. In normal builds [`crash_point`] is
//! an empty inline function.
#![forbid(unsafe_code)]

/// The places inside a change's critical section where a process can die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The lock is held; nothing is written yet.
    AfterLock,
    /// The change's redo (a trade's tape entry and its currency's line,
    /// or the redo record) is written and published; nothing is applied.
    AfterRedo,
    /// The currency's stock is written.
    AfterStock,
    /// The trader's holding is written.
    AfterHolding,
    /// The trader's balance is written.
    AfterBalance,
    /// The exchange's cash is written: the trade is applied, its redo is
    /// still pending.
    AfterCash,
    /// The redo is done with (`write_seq` even); the lock is still held.
    BeforeUnlock,
    /// Creation: the object exists, empty, with nothing else done.
    AfterOpen,
    /// Creation: the object has its size; its pages are zero.
    AfterSize,
    /// Creation: the header is seeded; the lock is not initialized.
    AfterSeed,
    /// Creation: the lock is initialized; the state is not yet `READY`.
    BeforePublish,
    /// An instructor's change (price, halt, resume, reset, close) is half
    /// applied: some of its values are stored, others not.
    MidChange,
}

impl Step {
    /// Every step, in the order a trade passes them, then
    /// [`Step::MidChange`].
    pub const ALL: [Step; 8] = [
        Step::AfterLock,
        Step::AfterRedo,
        Step::AfterStock,
        Step::AfterHolding,
        Step::AfterBalance,
        Step::AfterCash,
        Step::BeforeUnlock,
        Step::MidChange,
    ];

    /// The steps an instructor's change passes, in order.
    pub const INSTRUCTOR: [Step; 4] = [
        Step::AfterLock,
        Step::AfterRedo,
        Step::MidChange,
        Step::BeforeUnlock,
    ];

    /// Every step of `exchange-init`'s creation, in order.
    pub const CREATION: [Step; 4] = [
        Step::AfterOpen,
        Step::AfterSize,
        Step::AfterSeed,
        Step::BeforePublish,
    ];

    /// The name used in `SHM_EXCHANGE_CRASH_AT`.
    pub fn name(self) -> &'static str {
        match self {
            Step::AfterLock => "after-lock",
            Step::AfterRedo => "after-redo",
            Step::AfterStock => "after-stock",
            Step::AfterHolding => "after-holding",
            Step::AfterBalance => "after-balance",
            Step::AfterCash => "after-cash",
            Step::BeforeUnlock => "before-unlock",
            Step::AfterOpen => "after-open",
            Step::AfterSize => "after-size",
            Step::AfterSeed => "after-seed",
            Step::BeforePublish => "before-publish",
            Step::MidChange => "mid-change",
        }
    }
}

/// The environment variable that arms a crash point.
pub const CRASH_ENV: &str = "SHM_EXCHANGE_CRASH_AT";

/// Dies here if `SHM_EXCHANGE_CRASH_AT` names this step.
#[cfg(feature = "fault-injection")]
pub fn crash_point(step: Step) {
    use nix::sys::signal::{raise, Signal};
    use std::sync::OnceLock;
    static PLAN: OnceLock<Option<(Step, String)>> = OnceLock::new();
    let plan = PLAN.get_or_init(|| {
        let value = std::env::var(CRASH_ENV).ok()?;
        let (name, how) = value.split_once(':').unwrap_or((&value, "kill"));
        let step = Step::ALL
            .into_iter()
            .chain(Step::CREATION)
            .find(|step| step.name() == name)?;
        Some((step, how.to_owned()))
    });
    if let Some((armed, how)) = plan {
        if *armed == step {
            match how.as_str() {
                "abort" => std::process::abort(),
                "stop" => {
                    let _ = raise(Signal::SIGSTOP);
                }
                _ => {
                    let _ = raise(Signal::SIGKILL);
                }
            }
        }
    }
}

/// Dies here if `SHM_EXCHANGE_CRASH_AT` names this step (not in this build).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_step: Step) {}
