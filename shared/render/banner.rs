//! The REPL's first line: who trades where, and how to get about. On a
//! terminal too narrow for it, it breaks between its two halves, never in
//! the middle of a phrase.
#![forbid(unsafe_code)]

/// The banner for `account` on `address`, fitted to `width` columns when
/// given (a terminal's): one line if it fits, else two.
pub fn banner(account: &str, address: &str, width: Option<usize>) -> String {
    let who = format!("trading as {account} on {address}");
    let how = "`help` lists the commands, Tab completes, Ctrl-D leaves";
    let one_line = format!("{who}; {how}");
    if width.is_some_and(|width| one_line.chars().count() > width) {
        format!("{who}\n{how}")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_breaks_between_its_halves_when_narrow() {
        let wide = banner("alice", "posix:/shm-exchange", Some(200));
        assert_eq!(
            wide,
            "trading as alice on posix:/shm-exchange; `help` lists the commands, Tab completes, Ctrl-D leaves"
        );
        assert_eq!(banner("alice", "posix:/shm-exchange", None), wide);
        let narrow = banner("alice", "posix:/shm-exchange", Some(80));
        assert_eq!(
            narrow,
            "trading as alice on posix:/shm-exchange\n`help` lists the commands, Tab completes, Ctrl-D leaves"
        );
        assert!(narrow.lines().all(|line| line.chars().count() <= 80));
    }
}
