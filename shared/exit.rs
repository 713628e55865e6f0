//! The exit-status table of DESIGN.md, in one place: the library's errors,
//! the drivers and both binaries all answer with these three values, so a
//! script can rely on them.
#![forbid(unsafe_code)]

/// How a `trader` or `exchange-init` run ended, as its exit status.
///
/// | status | when |
/// |---|---|
/// | 0 | every command succeeded; an interactive REPL left with `quit` or Ctrl-D, whatever it refused |
/// | 1 | a command was refused (a market rule, an owner-only action, an inconsistent audit, a halted market; `exchange-init` finding an exchange already there) |
/// | 2 | a usage error (a bad option, a malformed one-shot command), or the exchange cannot be used: none there, not an exchange, being created, incompatible, permission denied, removed or replaced, truncated, corrupted |
///
/// The variants are ordered by severity, so the status of a run of many
/// commands is the [`Ord::max`] of theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ExitStatus {
    /// 0: every command succeeded.
    #[default]
    Success = 0,
    /// 1: a command was refused; the market is unchanged.
    Refused = 1,
    /// 2: a usage error, or the exchange cannot be used.
    Unusable = 2,
}

impl ExitStatus {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_design_table_and_severity() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Refused.code(), 1);
        assert_eq!(ExitStatus::Unusable.code(), 2);
        assert_eq!(
            ExitStatus::Refused.max(ExitStatus::Success),
            ExitStatus::Refused
        );
        assert_eq!(
            ExitStatus::Refused.max(ExitStatus::Unusable),
            ExitStatus::Unusable
        );
    }
}
