//! One budget per compile: the operations of the main script, its imports and its
//! `policy(...)` functions are counted together (Rhai counts each run on its own), what
//! `print`/`debug` keep is capped, and the host's [`crate::Interrupt`] is asked often
//! enough that it can watch memory as well as a clock.
//!
//! The engine measures nothing itself (no clock, no memory: it is pure); the host does,
//! in its interrupt, and says why it stops the script with [`memory_exceeded`] or its own
//! reason.

use std::cell::Cell;

use crate::Interrupt;
use crate::limits::MAX_OPERATIONS;

/// Memory a script may make its process use (the host measures it).
pub const MAX_MEMORY: usize = 512 << 20;
/// Bytes that `print` and `debug` may keep over one compile.
pub const MAX_PRINTED: usize = 1 << 20;
/// How deep imports may nest (`a` imports `b` imports `c` ... ).
pub const MAX_IMPORT_DEPTH: usize = 16;
/// The host's interrupt is asked every this many operations. One operation allocates at
/// most a few MiB (strings are capped at 1 MiB), so a host that checks its memory here
/// overshoots [`MAX_MEMORY`] by a few tens of MiB at most.
pub const INTERRUPT_EVERY: u64 = 16;
/// While parsing, the host's interrupt is asked every this many tokens.
pub const INTERRUPT_EVERY_TOKENS: u64 = 1024;
/// `let` statements one compile may parse (the script and its imports together). Rhai's
/// parser looks up every new variable among all those declared before it, so parsing time
/// grows with the square of their number (release build on 2 cores: 5,000 in about 0.1 s,
/// 10,000 in about 0.8 s, 20,000 in 3-5 s, more in the browser); a script that needs more
/// should declare its resources in a loop or a function.
pub const MAX_LET_STATEMENTS: usize = 10_000;

/// The reason a host gives when the process uses more than [`MAX_MEMORY`]; the engine
/// shows it as "the script was stopped: ...".
pub fn memory_exceeded() -> String {
    format!(
        "it used more than {} MiB of memory (the sandbox limit; are strings, maps or arrays growing in a loop?)",
        MAX_MEMORY >> 20
    )
}

/// The running totals of one compile.
pub(crate) struct Budget {
    ops: Cell<u64>,
    printed: Cell<usize>,
    tokens: Cell<u64>,
    lets: Cell<usize>,
    interrupt: Option<Interrupt>,
}

impl Budget {
    pub fn new(interrupt: Option<Interrupt>) -> Self {
        Budget {
            ops: Cell::new(0),
            printed: Cell::new(0),
            tokens: Cell::new(0),
            lets: Cell::new(0),
            interrupt,
        }
    }

    /// Counts `bytes` of printed text; false once the total is over [`MAX_PRINTED`] (the
    /// text is then dropped and the next operation stops the script).
    pub fn print(&self, bytes: usize) -> bool {
        let total = self.printed.get().saturating_add(bytes);
        self.printed.set(total);
        total <= MAX_PRINTED
    }

    /// Why the script must stop now, if it must: after one more operation.
    pub fn tick(&self) -> Option<String> {
        let n = self.ops.get() + 1;
        self.ops.set(n);
        if n > MAX_OPERATIONS {
            return Some(format!(
                "it ran more than {MAX_OPERATIONS} operations (the script, its imports and its policies together): is there an endless loop?"
            ));
        }
        if let Some(stop) = self.printed_too_much() {
            return Some(stop);
        }
        if n % INTERRUPT_EVERY == 0 {
            return self.interrupt.as_ref().and_then(|check| check());
        }
        None
    }

    /// Why parsing must stop now, if it must: after one more token (`is_let` for the
    /// keyword `let`). Rhai never reports progress while parsing, so the host's deadline and
    /// memory watch are asked here.
    pub fn token(&self, is_let: bool) -> Option<String> {
        if is_let {
            let lets = self.lets.get() + 1;
            self.lets.set(lets);
            if lets > MAX_LET_STATEMENTS {
                return Some(format!(
                    "the script has more than {MAX_LET_STATEMENTS} `let` statements (with its imports); \
parsing time grows with the square of their number: declare many similar resources in a loop \
or a function instead"
                ));
            }
        }
        let n = self.tokens.get() + 1;
        self.tokens.set(n);
        if n % INTERRUPT_EVERY_TOKENS == 0 {
            let why = self.interrupt.as_ref().and_then(|check| check())?;
            return Some(format!(
                "the script was stopped while parsing (before running any of it): {why}"
            ));
        }
        None
    }

    pub fn printed_too_much(&self) -> Option<String> {
        (self.printed.get() > MAX_PRINTED).then(|| {
            format!(
                "print and debug output exceeded {} MiB (the sandbox limit)",
                MAX_PRINTED >> 20
            )
        })
    }

    /// Operations counted so far.
    #[cfg(test)]
    pub fn operations(&self) -> u64 {
        self.ops.get()
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    /// A budget whose host stops the script at its `stop_at`-th question (never for 0); the
    /// number of questions asked.
    fn asking(stop_at: u64) -> (Budget, Rc<Cell<u64>>) {
        let asked = Rc::new(Cell::new(0u64));
        let a = asked.clone();
        let budget = Budget::new(Some(Rc::new(move || {
            a.set(a.get() + 1);
            (a.get() == stop_at).then(|| "it ran longer than 10 s".to_string())
        })));
        (budget, asked)
    }

    #[test]
    fn counts_operations_across_runs_and_asks_the_host_every_few() {
        let (budget, asked) = asking(0);
        for _ in 0..INTERRUPT_EVERY * 10 {
            assert_eq!(budget.tick(), None);
        }
        assert_eq!(asked.get(), 10);
        assert_eq!(budget.operations(), INTERRUPT_EVERY * 10);
        assert!(budget.print(MAX_PRINTED));
        assert!(!budget.print(1));
        assert!(budget.tick().unwrap().contains("1 MiB"));
    }

    #[test]
    fn parsing_asks_the_host_every_few_tokens_and_counts_lets() {
        let (budget, _) = asking(3);
        for _ in 0..INTERRUPT_EVERY_TOKENS * 2 {
            assert_eq!(budget.token(false), None);
        }
        let stop = (0..INTERRUPT_EVERY_TOKENS).find_map(|_| budget.token(false));
        assert_eq!(
            stop.as_deref(),
            Some(
                "the script was stopped while parsing (before running any of it): it ran longer than 10 s"
            )
        );
        let budget = Budget::new(None);
        for _ in 0..MAX_LET_STATEMENTS {
            assert_eq!(budget.token(true), None);
        }
        assert!(
            budget
                .token(true)
                .unwrap()
                .contains("more than 10000 `let` statements")
        );
    }
}
